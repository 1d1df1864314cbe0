import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Payouts and what they carried. `payouts` holds the latest status (moving
 * forward only) and the state of the item fetch, which the payout handlers
 * request inside the event's transaction and the payout-reconciliation job
 * carries out: `items_requested_gen` > `items_fetched_gen` means a fetch is
 * owed, so a request committed with its event cannot be lost.
 * `payout_status_history` keeps every status a payout has shown (paid, then
 * failed). `payout_items` are the payout's balance transactions, keyed by
 * Stripe's txn id; the payment, charge, refund and dispute they move money
 * for come from the expanded source, and the invoice is found through those
 * facts when read, so items stored before the payment's events arrive still link.
 */
export class CreatePayouts1764230300000 implements MigrationInterface {
  name = 'CreatePayouts1764230300000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE payouts (
        id VARCHAR(255) NOT NULL,
        account_id VARCHAR(64) NULL COMMENT 'null: the default account',
        livemode TINYINT(1) NOT NULL,
        amount BIGINT NOT NULL,
        currency CHAR(3) NOT NULL,
        status VARCHAR(32) NOT NULL,
        status_event_created BIGINT NOT NULL,
        automatic TINYINT(1) NOT NULL DEFAULT 1 COMMENT 'Stripe lists balance transactions by payout only for automatic payouts',
        method VARCHAR(32) NULL,
        description VARCHAR(1024) NULL,
        arrival_date BIGINT NOT NULL COMMENT 'unix seconds, as Stripe gives it',
        balance_transaction_id VARCHAR(255) NULL COMMENT 'the payout''s own transaction: never one of its items',
        failure_balance_transaction_id VARCHAR(255) NULL,
        failure_code VARCHAR(64) NULL,
        failure_message VARCHAR(1024) NULL,
        stripe_reconciliation_status VARCHAR(32) NULL,
        stripe_created BIGINT NOT NULL,
        items_status VARCHAR(16) NOT NULL DEFAULT 'not_requested' COMMENT 'not_requested | pending | done | failed | not_applicable',
        items_requested_gen INT NOT NULL DEFAULT 0,
        items_fetched_gen INT NOT NULL DEFAULT 0,
        items_requested_event_id VARCHAR(255) NULL,
        items_requested_event_created BIGINT NOT NULL DEFAULT 0,
        items_requested_at DATETIME(3) NULL,
        items_fetched_at DATETIME(3) NULL,
        items_count INT NULL,
        items_net BIGINT NULL,
        items_error TEXT NULL,
        created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
        PRIMARY KEY (id),
        UNIQUE KEY uq_payouts_balance_transaction (balance_transaction_id),
        KEY idx_payouts_items_status (items_status),
        KEY idx_payouts_arrival (arrival_date, id)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
    `);
    await queryRunner.query(`
      CREATE TABLE payout_status_history (
        payout_id VARCHAR(255) NOT NULL,
        status VARCHAR(32) NOT NULL,
        event_id VARCHAR(255) NOT NULL COMMENT 'the earliest event that showed this status',
        event_created BIGINT NOT NULL,
        recorded_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        PRIMARY KEY (payout_id, status)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
    `);
    await queryRunner.query(`
      CREATE TABLE payout_items (
        id VARCHAR(255) NOT NULL COMMENT 'the balance transaction id (txn_...)',
        payout_id VARCHAR(255) NOT NULL,
        fetch_gen INT NOT NULL COMMENT 'which fetch stored it; rows an older fetch left behind are removed',
        amount BIGINT NOT NULL,
        fee BIGINT NOT NULL,
        net BIGINT NOT NULL,
        currency CHAR(3) NOT NULL,
        type VARCHAR(64) NOT NULL,
        reporting_category VARCHAR(64) NULL,
        description VARCHAR(1024) NULL,
        source_id VARCHAR(255) NULL,
        charge_id VARCHAR(255) NULL,
        refund_id VARCHAR(255) NULL,
        dispute_id VARCHAR(255) NULL,
        payment_id VARCHAR(255) NULL COMMENT 'PaymentIntent id, or the charge id for a charge without one',
        available_on BIGINT NULL,
        stripe_created BIGINT NOT NULL,
        stored_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        PRIMARY KEY (id),
        KEY idx_payout_items_payout (payout_id, fetch_gen),
        KEY idx_payout_items_payment (payment_id),
        KEY idx_payout_items_charge (charge_id),
        KEY idx_payout_items_refund (refund_id),
        KEY idx_payout_items_dispute (dispute_id)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
    `);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const table of ['payout_items', 'payout_status_history', 'payouts']) {
      await queryRunner.query(`DROP TABLE ${table}`);
    }
  }
}
