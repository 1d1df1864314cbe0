import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The drift check (src/drift/) walks an account's facts by the time Stripe created them, one
 * window of a listing page at a time, to find what the service holds and Stripe does not list:
 * without these keys each window would scan every account's rows. Payments have no Stripe
 * creation time of their own; those without a charge are placed by when the service first
 * heard of them (`created_at`).
 */
export class IndexFactsByStripeCreated1764231346000 implements MigrationInterface {
  name = 'IndexFactsByStripeCreated1764231346000';

  async up(queryRunner: QueryRunner): Promise<void> {
    for (const table of ['charges', 'refunds', 'disputes']) {
      await queryRunner.query(`ALTER TABLE ${table} ADD KEY idx_${table}_scope_created (account_scope, stripe_created)`);
    }
    await queryRunner.query('ALTER TABLE payouts ADD KEY idx_payouts_account_created (account_id, stripe_created)');
    await queryRunner.query('ALTER TABLE payments ADD KEY idx_payments_account_created (account_id, created_at)');
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('ALTER TABLE payments DROP KEY idx_payments_account_created');
    await queryRunner.query('ALTER TABLE payouts DROP KEY idx_payouts_account_created');
    for (const table of ['charges', 'refunds', 'disputes']) await queryRunner.query(`ALTER TABLE ${table} DROP KEY idx_${table}_scope_created`);
  }
}
