import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The inbox is keyed by (event id, account scope): one Stripe account can reach
 * the service through two endpoints (the default one and a merchant's, or two
 * merchants'), and every merchant signs what it likes for its own endpoint, so
 * an event id alone says neither which account a row is for nor that another
 * endpoint's copy is a redelivery. `account_scope` is `account_id` with ''
 * for the default account (a key column cannot be null); a CHECK keeps the two
 * in step. The processing history follows the same key. The id stays first in
 * the key, so lookups by event id alone (on-call's) still use it.
 */
export class ScopeInboxToAccounts1764230510000 implements MigrationInterface {
  name = 'ScopeInboxToAccounts1764230510000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `ALTER TABLE stripe_events ADD COLUMN account_scope VARCHAR(64) NOT NULL DEFAULT '' COMMENT 'account_id, '''' for the default account: part of the key' AFTER account_id`,
    );
    await queryRunner.query('UPDATE stripe_events SET account_scope = account_id WHERE account_id IS NOT NULL');
    await queryRunner.query(
      `ALTER TABLE stripe_events DROP PRIMARY KEY, ADD PRIMARY KEY (id, account_scope),
         ADD CONSTRAINT chk_stripe_events_scope CHECK (account_scope = COALESCE(account_id, ''))`,
    );
    // Before this migration an event id was unique, so each history row joins exactly one event.
    await queryRunner.query(`ALTER TABLE event_attempts ADD COLUMN account_scope VARCHAR(64) NOT NULL DEFAULT '' AFTER event_id`);
    await queryRunner.query(`UPDATE event_attempts a JOIN stripe_events e ON e.id = a.event_id SET a.account_scope = e.account_scope WHERE e.account_scope <> ''`);
    await queryRunner.query('ALTER TABLE event_attempts DROP KEY idx_event_attempts_event, ADD KEY idx_event_attempts_event (event_id, account_scope, id)');
    await queryRunner.query(`ALTER TABLE event_replays ADD COLUMN account_scope VARCHAR(64) NOT NULL DEFAULT '' AFTER event_id`);
    await queryRunner.query(`UPDATE event_replays r JOIN stripe_events e ON e.id = r.event_id SET r.account_scope = e.account_scope WHERE e.account_scope <> ''`);
    await queryRunner.query('ALTER TABLE event_replays DROP PRIMARY KEY, ADD PRIMARY KEY (event_id, account_scope, audit_id)');
  }

  /** Fails while an event id is stored for two accounts: the old key cannot hold both. */
  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('ALTER TABLE event_replays DROP PRIMARY KEY, ADD PRIMARY KEY (event_id, audit_id), DROP COLUMN account_scope');
    await queryRunner.query('ALTER TABLE event_attempts DROP KEY idx_event_attempts_event, ADD KEY idx_event_attempts_event (event_id, id), DROP COLUMN account_scope');
    await queryRunner.query('ALTER TABLE stripe_events DROP CONSTRAINT chk_stripe_events_scope, DROP PRIMARY KEY, ADD PRIMARY KEY (id), DROP COLUMN account_scope');
  }
}
