import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Catch-up for PayPal too (issue 17): `stripe_sync_state` gets a `gateway` in its key, so an account
 * with both gateways has a watermark and a last run for each. Every row stored before this is
 * Stripe's: the default keeps it so, and Stripe's reads and writes (gateway 'stripe') find it as before.
 */
export class CatchUpPerGateway1764232600000 implements MigrationInterface {
  name = 'CatchUpPerGateway1764232600000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      "ALTER TABLE stripe_sync_state ADD COLUMN gateway VARCHAR(8) NOT NULL DEFAULT 'stripe' COMMENT 'stripe | paypal: whose events the row is about' AFTER account_scope, DROP PRIMARY KEY, ADD PRIMARY KEY (account_scope, gateway)",
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("DELETE FROM stripe_sync_state WHERE gateway <> 'stripe'");
    await queryRunner.query('ALTER TABLE stripe_sync_state DROP PRIMARY KEY, ADD PRIMARY KEY (account_scope), DROP COLUMN gateway');
  }
}
