import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Merchant accounts and their Stripe connection. The API key and the webhook
 * signing secrets are stored only encrypted (AES-256-GCM under ENCRYPTION_KEY);
 * mode and last 4 are kept in clear for display.
 */
export class CreateAccounts1764230200000 implements MigrationInterface {
  name = 'CreateAccounts1764230200000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE accounts (
        id VARCHAR(64) NOT NULL,
        name VARCHAR(255) NOT NULL,
        created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        PRIMARY KEY (id)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
    `);
    await queryRunner.query(`
      CREATE TABLE stripe_connections (
        account_id VARCHAR(64) NOT NULL,
        mode VARCHAR(4) NOT NULL COMMENT 'live | test, from the key prefix',
        key_last4 CHAR(4) NOT NULL,
        restricted TINYINT(1) NOT NULL,
        secret_key_enc TEXT NOT NULL,
        stripe_account_id VARCHAR(255) NULL,
        charges_enabled TINYINT(1) NULL,
        webhook_endpoint_id VARCHAR(255) NULL COMMENT 'set when this service created the endpoint',
        webhook_secrets_enc TEXT NULL COMMENT 'encrypted JSON [{secret, expiresAt}]: the previous secret verifies for 24 h after a roll',
        warnings TEXT NULL COMMENT 'JSON array shown with the connection',
        livemode_mismatches INT NOT NULL DEFAULT 0,
        last_mismatch_at DATETIME(3) NULL,
        connected_at DATETIME(3) NOT NULL,
        PRIMARY KEY (account_id),
        CONSTRAINT fk_stripe_connections_account FOREIGN KEY (account_id) REFERENCES accounts (id) ON DELETE CASCADE
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
    `);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE stripe_connections');
    await queryRunner.query('DROP TABLE accounts');
  }
}
