import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The processing history of each event: one row per try (written by the
 * processor) and one per replay (pointing at the audit row that says who).
 * No foreign keys to stripe_events: the inbox insert is the hot path and must
 * not pay for them; retention deletes history rows with their event.
 */
export class CreateEventHistory1764230410000 implements MigrationInterface {
  name = 'CreateEventHistory1764230410000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE event_attempts (
        id BIGINT NOT NULL AUTO_INCREMENT,
        event_id VARCHAR(255) NOT NULL,
        attempt INT NOT NULL COMMENT 'the event''s attempts counter after this try (counts across replays)',
        job_id VARCHAR(255) NULL,
        started_at DATETIME(3) NOT NULL,
        finished_at DATETIME(3) NOT NULL,
        outcome VARCHAR(16) NOT NULL COMMENT 'processed | ignored | retrying | failed',
        reason VARCHAR(64) NULL,
        error TEXT NULL,
        stack_line VARCHAR(1024) NULL COMMENT 'first frame of the error stack: where it was thrown',
        PRIMARY KEY (id),
        KEY idx_event_attempts_event (event_id, id)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
    `);
    await queryRunner.query(`
      CREATE TABLE event_replays (
        event_id VARCHAR(255) NOT NULL,
        audit_id BIGINT NOT NULL,
        PRIMARY KEY (event_id, audit_id)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
    `);
    // Time-window filters and newest-first pages of GET /api/ops/events without a status filter.
    await queryRunner.query('ALTER TABLE stripe_events ADD KEY idx_stripe_events_received (received_at)');
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('ALTER TABLE stripe_events DROP KEY idx_stripe_events_received');
    await queryRunner.query('DROP TABLE event_replays');
    await queryRunner.query('DROP TABLE event_attempts');
  }
}
