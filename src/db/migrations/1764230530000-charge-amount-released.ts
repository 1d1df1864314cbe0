import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Before API 2025-03-31, Stripe booked the part of an authorization it released (a partial
 * capture, a cancel or expiry) as a Refund object and in `amount_refunded`. The charge keeps
 * that released amount, so the invoice derivation can tell the release's Refund object from
 * money given back (billing/invoice-state.ts). Only grows, like the charge's other amounts.
 */
export class ChargeAmountReleased1764230530000 implements MigrationInterface {
  name = 'ChargeAmountReleased1764230530000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `ALTER TABLE charges ADD COLUMN amount_released BIGINT NOT NULL DEFAULT 0 COMMENT 'authorized but released uncaptured, as API versions before 2025-03-31 report it; only grows' AFTER amount_refunded`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('ALTER TABLE charges DROP COLUMN amount_released');
  }
}
