import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * On-call finds events by the invoice number a customer quotes (GET /api/ops/events?q=INV-2026-0042).
 * Numbers are unique per account (uq_invoices_number is (account_scope, number)), so that key cannot
 * serve a lookup by number alone, across accounts: this one does. MariaDB adds it online.
 */
export class IndexInvoiceNumber1764230420000 implements MigrationInterface {
  name = 'IndexInvoiceNumber1764230420000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('ALTER TABLE invoices ADD KEY idx_invoices_number (number)');
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('ALTER TABLE invoices DROP KEY idx_invoices_number');
  }
}
