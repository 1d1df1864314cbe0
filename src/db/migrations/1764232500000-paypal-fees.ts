import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * PayPal's reconciliation (issue 17): a PayPal capture's money lands in the merchant's PayPal
 * balance less PayPal's fee, and no payout lists it; the fee and the net are only in the capture's
 * `seller_receivable_breakdown` (a refund's `seller_payable_breakdown`: the fee PayPal gives back
 * and what leaves the balance). So they are kept on the facts themselves, in minor units, null
 * until an event carrying the breakdown arrives (a pending capture has none). Stripe's rows keep
 * null: Stripe's fees are in its balance transactions (payout_items).
 */
export class PaypalFees1764232500000 implements MigrationInterface {
  name = 'PaypalFees1764232500000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `ALTER TABLE payments
         ADD COLUMN fee BIGINT NULL COMMENT 'PayPal: seller_receivable_breakdown.paypal_fee, minor units; null until known (Stripe: in payout_items)',
         ADD COLUMN net BIGINT NULL COMMENT 'PayPal: seller_receivable_breakdown.net_amount, minor units; null until known'`,
    );
    await queryRunner.query(
      `ALTER TABLE refunds
         ADD COLUMN fee BIGINT NULL COMMENT 'PayPal: seller_payable_breakdown.paypal_fee (the fee given back), minor units; null until known',
         ADD COLUMN net BIGINT NULL COMMENT 'PayPal: seller_payable_breakdown.net_amount (what left the balance), minor units; null until known'`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('ALTER TABLE refunds DROP COLUMN fee, DROP COLUMN net');
    await queryRunner.query('ALTER TABLE payments DROP COLUMN fee, DROP COLUMN net');
  }
}
