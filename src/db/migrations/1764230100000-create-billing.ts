import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Invoices and the Stripe facts they are derived from. Facts are keyed by
 * Stripe's own ids, so a redelivered event can only update a row, never add
 * one. A payment's `id` is its PaymentIntent id (or the charge id for a charge
 * made without one); charges, refunds and disputes point at it by `payment_id`.
 */
export class CreateBilling1764230100000 implements MigrationInterface {
  name = 'CreateBilling1764230100000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE invoices (
        seq BIGINT NOT NULL AUTO_INCREMENT COMMENT 'insertion order, for cursor pagination',
        id VARCHAR(32) NOT NULL,
        account_id VARCHAR(64) NULL COMMENT 'null: the default account',
        account_scope VARCHAR(64) AS (COALESCE(account_id, '')) STORED,
        number VARCHAR(64) NOT NULL,
        currency CHAR(3) NOT NULL,
        amount_due BIGINT NOT NULL,
        amount_paid BIGINT NOT NULL DEFAULT 0,
        amount_refunded BIGINT NOT NULL DEFAULT 0,
        amount_disputed BIGINT NOT NULL DEFAULT 0,
        status VARCHAR(24) NOT NULL DEFAULT 'open',
        review_reason VARCHAR(1024) NULL,
        customer_name VARCHAR(255) NOT NULL,
        customer_email VARCHAR(255) NOT NULL,
        created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
        PRIMARY KEY (id),
        UNIQUE KEY uq_invoices_seq (seq),
        UNIQUE KEY uq_invoices_number (account_scope, number),
        KEY idx_invoices_status (status, seq),
        KEY idx_invoices_created (created_at)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
    `);
    await queryRunner.query(`
      CREATE TABLE payments (
        id VARCHAR(255) NOT NULL COMMENT 'PaymentIntent id, or charge id for a charge without one',
        invoice_id VARCHAR(32) NULL COMMENT 'null: matches no invoice (yet)',
        unmatched_reason VARCHAR(64) NULL,
        account_id VARCHAR(64) NULL,
        livemode TINYINT(1) NOT NULL,
        currency CHAR(3) NULL,
        amount BIGINT NULL,
        amount_received BIGINT NOT NULL DEFAULT 0 COMMENT 'only grows',
        status VARCHAR(32) NULL,
        status_event_created BIGINT NOT NULL DEFAULT 0,
        created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
        PRIMARY KEY (id),
        KEY idx_payments_invoice (invoice_id)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
    `);
    await queryRunner.query(`
      CREATE TABLE charges (
        id VARCHAR(255) NOT NULL,
        payment_id VARCHAR(255) NOT NULL,
        currency CHAR(3) NOT NULL,
        amount BIGINT NOT NULL,
        amount_captured BIGINT NOT NULL DEFAULT 0 COMMENT 'only grows',
        amount_refunded BIGINT NOT NULL DEFAULT 0 COMMENT 'cumulative, as Stripe reports it; only grows here',
        succeeded TINYINT(1) NOT NULL DEFAULT 0,
        balance_transaction_id VARCHAR(255) NULL,
        stripe_created BIGINT NOT NULL,
        PRIMARY KEY (id),
        KEY idx_charges_payment (payment_id)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
    `);
    await queryRunner.query(`
      CREATE TABLE refunds (
        id VARCHAR(255) NOT NULL,
        payment_id VARCHAR(255) NOT NULL,
        charge_id VARCHAR(255) NULL,
        currency CHAR(3) NOT NULL,
        amount BIGINT NOT NULL,
        status VARCHAR(32) NOT NULL,
        status_event_created BIGINT NOT NULL,
        reason VARCHAR(64) NULL,
        failure_reason VARCHAR(255) NULL,
        stripe_created BIGINT NOT NULL,
        PRIMARY KEY (id),
        KEY idx_refunds_payment (payment_id)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
    `);
    await queryRunner.query(`
      CREATE TABLE disputes (
        id VARCHAR(255) NOT NULL,
        payment_id VARCHAR(255) NOT NULL,
        charge_id VARCHAR(255) NOT NULL,
        currency CHAR(3) NOT NULL,
        amount BIGINT NOT NULL,
        status VARCHAR(32) NOT NULL,
        status_event_created BIGINT NOT NULL,
        reason VARCHAR(64) NULL,
        stripe_created BIGINT NOT NULL,
        PRIMARY KEY (id),
        KEY idx_disputes_payment (payment_id)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
    `);
    await queryRunner.query(`
      CREATE TABLE payment_failures (
        payment_id VARCHAR(255) NOT NULL,
        attempt_key VARCHAR(255) NOT NULL COMMENT 'the declined charge id; two events about one attempt share it',
        event_id VARCHAR(255) NOT NULL COMMENT 'the payment_intent.payment_failed event that reported it first',
        code VARCHAR(64) NULL,
        decline_code VARCHAR(64) NULL,
        message VARCHAR(1024) NULL,
        stripe_created BIGINT NOT NULL,
        PRIMARY KEY (payment_id, attempt_key)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
    `);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const table of ['payment_failures', 'disputes', 'refunds', 'charges', 'payments', 'invoices']) {
      await queryRunner.query(`DROP TABLE ${table}`);
    }
  }
}
