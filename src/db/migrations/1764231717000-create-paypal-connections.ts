import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Settings > Payment Gateways > PayPal (issue 17): a merchant account's PayPal REST app. The client
 * secret is stored only sealed (AES-256-GCM under ENCRYPTION_KEY, bound to the account: v2); the
 * client id is public (PayPal's checkout button carries it) and one app serves one merchant account.
 * The webhook this service created at PayPal is kept by id: its id is part of every delivery's
 * signed string. After a roll to another app or mode, the previous webhook id keeps verifying
 * deliveries already on their way until `previous_webhook_expires_at`.
 */
export class CreatePaypalConnections1764231717000 implements MigrationInterface {
  name = 'CreatePaypalConnections1764231717000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE paypal_connections (
        account_id VARCHAR(64) NOT NULL,
        mode VARCHAR(7) NOT NULL COMMENT 'sandbox | live',
        client_id VARCHAR(128) NOT NULL,
        client_secret_enc TEXT NOT NULL COMMENT 'sealed v2, bound to billed:paypal_connections:client_secret:<account_id>',
        secret_last4 CHAR(4) NOT NULL,
        webhook_id VARCHAR(64) NULL COMMENT 'the webhook this service created at PayPal; null without PUBLIC_BASE_URL',
        webhook_url VARCHAR(2048) NULL,
        previous_webhook_id VARCHAR(64) NULL,
        previous_webhook_expires_at DATETIME(3) NULL,
        warnings TEXT NULL COMMENT 'JSON array shown with the connection',
        connected_at DATETIME(3) NOT NULL,
        PRIMARY KEY (account_id),
        UNIQUE KEY uq_paypal_connections_client (client_id),
        CONSTRAINT fk_paypal_connections_account FOREIGN KEY (account_id) REFERENCES accounts (id) ON DELETE CASCADE
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
    `);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE paypal_connections');
  }
}
