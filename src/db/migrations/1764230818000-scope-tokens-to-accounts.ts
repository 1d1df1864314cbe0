import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * An access token may be confined to one merchant account (`account_id`; null: every account,
 * as every token was before). The foreign key has no ON DELETE action on purpose: a token's
 * account can never vanish from under it, since a null left behind would widen the token to
 * every account. Existing tokens keep null, so they keep their meaning.
 *
 * Scoped tokens read invoices and payouts of one account, newest first: an index for each,
 * so their lists range over one account's rows instead of filtering every account's.
 */
export class ScopeTokensToAccounts1764230818000 implements MigrationInterface {
  name = 'ScopeTokensToAccounts1764230818000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      ALTER TABLE access_tokens
        ADD COLUMN account_id VARCHAR(64) NULL COMMENT 'the one merchant account the token sees; null: every account' AFTER role,
        ADD KEY idx_access_tokens_account (account_id),
        ADD CONSTRAINT fk_access_tokens_account FOREIGN KEY (account_id) REFERENCES accounts (id)
    `);
    await queryRunner.query('ALTER TABLE invoices ADD KEY idx_invoices_account (account_scope, seq)');
    await queryRunner.query('ALTER TABLE payouts ADD KEY idx_payouts_account_arrival (account_id, arrival_date, id)');
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('ALTER TABLE payouts DROP KEY idx_payouts_account_arrival');
    await queryRunner.query('ALTER TABLE invoices DROP KEY idx_invoices_account');
    await queryRunner.query('ALTER TABLE access_tokens DROP FOREIGN KEY fk_access_tokens_account, DROP KEY idx_access_tokens_account, DROP COLUMN account_id');
  }
}
