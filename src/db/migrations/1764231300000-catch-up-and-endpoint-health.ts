import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Issue 13, nothing lost beyond Stripe's retries:
 * - `stripe_events.source`: how an event reached the inbox, `webhook` (a signed delivery) or
 *   `catch_up` (listed from Stripe's GET /v1/events with the account's own key: ours because that
 *   key fetched it, no signature involved);
 * - `stripe_connections.webhook_endpoint_managed`: 1 when this service created the endpoint (it
 *   may recreate it, and deletes it on disconnect), 0 for an endpoint id the merchant gave (checked
 *   and repaired, never deleted). Every endpoint id stored before this was one the service created;
 * - `stripe_sync_state`: one row per account scope ('' for the default account): the catch-up's
 *   watermark (the start of the last run that covered the account's whole window), what the last
 *   run did, the count of events it recovered (deliveries Stripe never made), and the webhook
 *   endpoint's health as last checked.
 */
export class CatchUpAndEndpointHealth1764231300000 implements MigrationInterface {
  name = 'CatchUpAndEndpointHealth1764231300000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      "ALTER TABLE stripe_events ADD COLUMN source VARCHAR(16) NOT NULL DEFAULT 'webhook' COMMENT 'webhook | catch_up' AFTER payload",
    );
    await queryRunner.query(
      "ALTER TABLE stripe_connections ADD COLUMN webhook_endpoint_managed TINYINT(1) NOT NULL DEFAULT 0 COMMENT '1: created by this service' AFTER webhook_endpoint_id",
    );
    await queryRunner.query('UPDATE stripe_connections SET webhook_endpoint_managed = 1 WHERE webhook_endpoint_id IS NOT NULL');
    await queryRunner.query(`
      CREATE TABLE stripe_sync_state (
        account_scope VARCHAR(64) NOT NULL COMMENT 'the account id, or empty for the default account',
        account_id VARCHAR(64) NULL,
        watermark_at DATETIME(3) NULL COMMENT 'start of the last catch-up that covered the whole window; the next one lists from it minus a margin',
        last_success_at DATETIME(3) NULL COMMENT 'end of the last successful catch-up',
        last_run_started_at DATETIME(3) NULL,
        last_run_finished_at DATETIME(3) NULL,
        last_run_trigger VARCHAR(16) NULL,
        last_run_outcome VARCHAR(16) NULL COMMENT 'succeeded | failed',
        last_run_error TEXT NULL,
        last_run_listed INT NULL,
        last_run_new INT NULL,
        recovered_total BIGINT NOT NULL DEFAULT 0 COMMENT 'events catch-up stored that no delivery had: only grows',
        endpoint_id VARCHAR(255) NULL COMMENT 'the endpoint the health below is about',
        endpoint_stripe_status VARCHAR(16) NULL COMMENT 'enabled | disabled | deleted, as Stripe said',
        endpoint_problems TEXT NULL COMMENT 'JSON [{code, message}]',
        endpoint_checked_at DATETIME(3) NULL,
        PRIMARY KEY (account_scope)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
    `);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE stripe_sync_state');
    await queryRunner.query('ALTER TABLE stripe_connections DROP COLUMN webhook_endpoint_managed');
    await queryRunner.query('ALTER TABLE stripe_events DROP COLUMN source');
  }
}
