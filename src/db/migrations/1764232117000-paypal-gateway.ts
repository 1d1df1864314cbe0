import type { MigrationInterface, QueryRunner } from 'typeorm';

const FACT_TABLES = ['payments', 'charges', 'refunds', 'disputes'] as const;

/**
 * PayPal, the second gateway (issue 17, phase 2): one inbox and one set of facts, each row saying
 * which gateway it came through.
 *
 * The inbox keeps its key (id, account_scope). The two gateways' event ids cannot collide: Stripe's
 * intake stores only ids `evt_…` (src/events/stripe-event-envelope.ts), PayPal's only `WH-…`
 * (src/paypal/paypal-event-envelope.ts), whoever signed the payload. So the gateway is a column
 * generated from the id: it cannot disagree with it, and no INSERT of the inbox changes.
 *
 * Facts keep their keys (the gateway's own object ids): a fact row is only ever written by events
 * of the payment holding it, within its account (billing/apply-to-payment.ts), whatever the gateway.
 */
export class PaypalGateway1764232117000 implements MigrationInterface {
  name = 'PaypalGateway1764232117000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `ALTER TABLE stripe_events ADD COLUMN gateway VARCHAR(8) AS (IF(id LIKE 'WH-%', 'paypal', 'stripe')) STORED COMMENT 'stripe | paypal: from the id (evt_… or WH-…)' AFTER id`,
    );
    for (const table of FACT_TABLES) {
      await queryRunner.query(`ALTER TABLE ${table} ADD COLUMN gateway VARCHAR(8) NOT NULL DEFAULT 'stripe' COMMENT 'stripe | paypal' AFTER id`);
    }
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const table of FACT_TABLES) await queryRunner.query(`ALTER TABLE ${table} DROP COLUMN gateway`);
    await queryRunner.query('ALTER TABLE stripe_events DROP COLUMN gateway');
  }
}
