import type { MigrationInterface, QueryRunner } from 'typeorm';

const FACT_TABLES = ['charges', 'refunds', 'disputes'] as const;

/**
 * Every fact row names the account whose events created it. Stripe object ids
 * are globally unique, so the key stays the Stripe id: a charge, refund or
 * dispute id already held by another account's payment is itself the sign of a
 * forged event, which is then ignored (`account_mismatch`) instead of changing
 * that account's row. `account_scope` is the payment's account ('' for the
 * default account); it has no default, so no insert can leave it out. Existing
 * rows take it from their payment.
 */
export class ScopeFactsToAccounts1764230500000 implements MigrationInterface {
  name = 'ScopeFactsToAccounts1764230500000';

  async up(queryRunner: QueryRunner): Promise<void> {
    for (const table of FACT_TABLES) {
      await queryRunner.query(
        `ALTER TABLE ${table} ADD COLUMN account_scope VARCHAR(64) NOT NULL COMMENT 'the account of its payment; '''' = the default account' AFTER payment_id`,
      );
      await queryRunner.query(`UPDATE ${table} f JOIN payments p ON p.id = f.payment_id SET f.account_scope = COALESCE(p.account_id, '')`);
    }
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const table of FACT_TABLES) await queryRunner.query(`ALTER TABLE ${table} DROP COLUMN account_scope`);
  }
}
