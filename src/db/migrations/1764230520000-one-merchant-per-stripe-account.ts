import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * One Stripe account serves one merchant account: connected to two, each would
 * receive the other's events and could sign events about the other's payments.
 * PUT /api/accounts/:id/stripe answers 409 stripe_account_in_use; this unique key
 * makes two connects racing each other unable to both win. A connection whose
 * Stripe account could not be read (a restricted key without that permission)
 * has none, and NULLs do not collide.
 *
 * Connections made before this check may already share a Stripe account. The
 * one connected first keeps it; the others keep working as they did (their
 * signing secrets still verify), but no longer claim the Stripe account, and
 * carry a warning saying so, shown with the connection, until they are
 * disconnected or connected to another Stripe account.
 */
export class OneMerchantPerStripeAccount1764230520000 implements MigrationInterface {
  name = 'OneMerchantPerStripeAccount1764230520000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const shared = (await queryRunner.query(
      `SELECT c.account_id, c.stripe_account_id, c.warnings,
              (SELECT k.account_id FROM stripe_connections k
                WHERE k.stripe_account_id = c.stripe_account_id
                ORDER BY k.connected_at, k.account_id LIMIT 1) AS keeper
         FROM stripe_connections c
        WHERE c.stripe_account_id IS NOT NULL
          AND EXISTS (SELECT 1 FROM stripe_connections o WHERE o.stripe_account_id = c.stripe_account_id AND o.account_id <> c.account_id)`,
    )) as { account_id: string; stripe_account_id: string; warnings: string | null; keeper: string }[];
    for (const row of shared.filter((r) => r.account_id !== r.keeper)) {
      const warnings = row.warnings ? (JSON.parse(row.warnings) as string[]) : [];
      warnings.push(
        `Stripe account ${row.stripe_account_id} is also connected to merchant account ${row.keeper}, which keeps it: a Stripe account serves one merchant account. ` +
          `Disconnect one of the two (DELETE /api/accounts/<id>/stripe); until then, connecting this account again answers 409 stripe_account_in_use.`,
      );
      await queryRunner.query('UPDATE stripe_connections SET stripe_account_id = NULL, warnings = ? WHERE account_id = ?', [JSON.stringify(warnings), row.account_id]);
    }
    await queryRunner.query('ALTER TABLE stripe_connections ADD UNIQUE KEY uq_stripe_connections_stripe_account (stripe_account_id)');
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('ALTER TABLE stripe_connections DROP KEY uq_stripe_connections_stripe_account');
  }
}
