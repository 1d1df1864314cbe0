import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The inbox: one row per Stripe event id, holding the raw payload exactly as
 * signed. Ids are compared byte for byte (utf8mb4_bin): Stripe ids are case-sensitive.
 */
export class CreateStripeEvents1764230000000 implements MigrationInterface {
  name = 'CreateStripeEvents1764230000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE stripe_events (
        id VARCHAR(255) NOT NULL,
        account_id VARCHAR(64) NULL COMMENT 'null: the default account (env secrets)',
        type VARCHAR(255) NOT NULL,
        livemode TINYINT(1) NOT NULL,
        stripe_created BIGINT NOT NULL COMMENT 'event.created, unix seconds',
        api_version VARCHAR(32) NULL,
        object_id VARCHAR(255) NULL COMMENT 'data.object.id, to find events by Stripe object',
        payload LONGTEXT NOT NULL,
        status VARCHAR(16) NOT NULL DEFAULT 'received',
        reason VARCHAR(64) NULL,
        attempts INT NOT NULL DEFAULT 0,
        last_error TEXT NULL,
        ingest_batch CHAR(16) NOT NULL COMMENT 'which batched insert stored the row; tells new rows from redeliveries',
        received_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        processed_at DATETIME(3) NULL,
        updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
        PRIMARY KEY (id),
        KEY idx_stripe_events_status_received (status, received_at),
        KEY idx_stripe_events_type (type),
        KEY idx_stripe_events_object (object_id)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
    `);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE stripe_events');
  }
}
