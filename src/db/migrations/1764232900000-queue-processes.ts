import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `queue_processes`: the running processes and the queue layout each uses (QUEUE_PREFIX,
 * QUEUE_SHARDS), kept fresh by a heartbeat. Every process sharing a queue prefix must put events
 * in, and read them from, the same shards: a worker reading 2 shards while an API writes to 4
 * would leave half the events waiting for ever (src/runtime/queue-layout-claim.ts).
 */
export class QueueProcesses1764232900000 implements MigrationInterface {
  name = 'QueueProcesses1764232900000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE queue_processes (
        id CHAR(24) NOT NULL PRIMARY KEY,
        queue_prefix VARCHAR(255) NOT NULL,
        queue_shards SMALLINT UNSIGNED NOT NULL,
        role VARCHAR(16) NOT NULL,
        host VARCHAR(255) NOT NULL,
        pid INT UNSIGNED NOT NULL,
        started_at DATETIME(3) NOT NULL,
        seen_at DATETIME(3) NOT NULL,
        KEY queue_processes_prefix_seen (queue_prefix, seen_at)
      ) ENGINE=InnoDB`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE queue_processes');
  }
}
