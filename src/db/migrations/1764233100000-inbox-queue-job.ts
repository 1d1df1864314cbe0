import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `stripe_events.queue_job`: the batch job an event was queued in (src/events/event-queue.ts,
 * BatchJobData), or NULL for a job of its own. The relay reads it to tell an event that waits in
 * a batch job from one that never reached the queue. Appended and nullable, so MariaDB adds it
 * in place (no table copy) however big the inbox.
 */
export class InboxQueueJob1764233100000 implements MigrationInterface {
  name = 'InboxQueueJob1764233100000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('ALTER TABLE stripe_events ADD COLUMN queue_job VARCHAR(64) NULL');
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('ALTER TABLE stripe_events DROP COLUMN queue_job');
  }
}
