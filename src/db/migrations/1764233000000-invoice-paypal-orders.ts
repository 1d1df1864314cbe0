import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Pay with PayPal keeps every PayPal order it made for an invoice, as Pay Now keeps its
 * PaymentIntents (invoice_payment_intents): so a second click reuses the open order for the amount
 * due, an order for another amount is superseded and never captured, and a capture made but not
 * yet recorded holds every other payment of the invoice back. Orders are decided under the same
 * per-invoice lock as Pay Now (pay_now_locks).
 */
export class InvoicePaypalOrders1764233000000 implements MigrationInterface {
  name = 'InvoicePaypalOrders1764233000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE invoice_paypal_orders (
        id VARCHAR(36) NOT NULL COMMENT 'the PayPal order id',
        invoice_id VARCHAR(32) NOT NULL,
        account_id VARCHAR(64) NOT NULL,
        amount BIGINT NOT NULL,
        currency CHAR(3) NOT NULL,
        paypal_invoice_id VARCHAR(127) NOT NULL COMMENT 'the order''s invoice_id at PayPal: the invoice number and a suffix, unique per order',
        status VARCHAR(32) NOT NULL COMMENT 'PayPal''s, lower case, as last seen; or superseded, expired, capturing',
        request_id VARCHAR(64) NOT NULL COMMENT 'the PayPal-Request-Id it was created with',
        capture_id VARCHAR(64) NULL,
        capture_status VARCHAR(32) NULL COMMENT 'the capture''s status as the capture answer gave it',
        created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
        PRIMARY KEY (id),
        UNIQUE KEY uq_invoice_paypal_orders_capture (capture_id),
        KEY idx_invoice_paypal_orders_invoice (invoice_id, created_at)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
    `);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE invoice_paypal_orders');
  }
}
