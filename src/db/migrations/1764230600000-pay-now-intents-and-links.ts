import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Pay Now keeps every PaymentIntent it made for an invoice, so it can reuse the one still
 * payable, cancel those an amount change superseded, and refuse while one is processing, instead
 * of trusting a 24 h idempotency key. One row per invoice in pay_now_locks serialises Pay Now per
 * invoice (SELECT … FOR UPDATE) without locking the invoice row the event handlers update.
 * Pay links: a payer's browser pays through an unguessable token, of which only the hash is kept.
 */
export class PayNowIntentsAndLinks1764230600000 implements MigrationInterface {
  name = 'PayNowIntentsAndLinks1764230600000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE pay_now_locks (
        invoice_id VARCHAR(32) NOT NULL,
        PRIMARY KEY (invoice_id)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
    `);
    await queryRunner.query(`
      CREATE TABLE invoice_payment_intents (
        id VARCHAR(255) NOT NULL COMMENT 'the PaymentIntent id',
        invoice_id VARCHAR(32) NOT NULL,
        account_id VARCHAR(64) NULL,
        amount BIGINT NOT NULL,
        currency CHAR(3) NOT NULL,
        status VARCHAR(32) NOT NULL COMMENT 'as Stripe last said',
        created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
        PRIMARY KEY (id),
        KEY idx_invoice_payment_intents_invoice (invoice_id, created_at)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
    `);
    await queryRunner.query(`
      CREATE TABLE pay_links (
        id VARCHAR(32) NOT NULL,
        invoice_id VARCHAR(32) NOT NULL,
        token_hash BINARY(32) NOT NULL COMMENT 'SHA-256 of the token; the token is shown once and never stored',
        expires_at DATETIME(3) NOT NULL,
        created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        created_by VARCHAR(100) NULL,
        revoked_at DATETIME(3) NULL,
        revoked_by VARCHAR(100) NULL,
        PRIMARY KEY (id),
        UNIQUE KEY uq_pay_links_hash (token_hash),
        KEY idx_pay_links_invoice (invoice_id)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
    `);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE pay_links');
    await queryRunner.query('DROP TABLE invoice_payment_intents');
    await queryRunner.query('DROP TABLE pay_now_locks');
  }
}
