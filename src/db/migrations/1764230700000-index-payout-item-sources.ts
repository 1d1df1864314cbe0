import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A failed payout's money comes back in a later payout as a `payout_failure` transaction whose
 * source is the failed payout: reconciliation finds it by that source, on every report.
 */
export class IndexPayoutItemSources1764230700000 implements MigrationInterface {
  name = 'IndexPayoutItemSources1764230700000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('ALTER TABLE payout_items ADD KEY idx_payout_items_source (source_id)');
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('ALTER TABLE payout_items DROP KEY idx_payout_items_source');
  }
}
