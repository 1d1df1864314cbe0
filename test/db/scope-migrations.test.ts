import assert from 'node:assert/strict';
import { DataSource } from 'typeorm';
import { migrations } from '../../src/db/migrations/index.js';
import { ensureDatabase } from '../../src/db/data-source.js';
import { trackDatabase, uniqueDatabaseUrl } from '../helpers/test-database.js';

/** A database migrated up to (not including) `before`, as a deployment of an earlier version left it. */
async function migratedUpTo(before: string) {
  const url = uniqueDatabaseUrl('scopes');
  trackDatabase(url);
  await ensureDatabase(url);
  const index = migrations.findIndex((m) => m.name === before);
  assert.ok(index > 0, `no migration ${before}`);
  const open = (list: typeof migrations) => new DataSource({ type: 'mysql', url, migrations: list, extra: { multipleStatements: true }, logging: false });
  const old = open(migrations.slice(0, index));
  await old.initialize();
  await old.runMigrations({ transaction: 'each' });
  return {
    db: old,
    /** Runs the rest, on a connection of its own, as the new version's start-up does. */
    async upgrade() {
      const all = open(migrations);
      await all.initialize();
      try {
        await all.runMigrations({ transaction: 'each' });
      } finally {
        await all.destroy();
      }
    },
  };
}

describe('migrations that scope rows to accounts', () => {
  it('gives existing charges, refunds and disputes the account of their payment', async () => {
    const { db, upgrade } = await migratedUpTo('ScopeFactsToAccounts1764230500000');
    try {
      await db.query("INSERT INTO payments (id, account_id, livemode) VALUES ('pi_default', NULL, 0), ('pi_merchant', 'ma_00000000000000000001', 0)");
      for (const [payment, suffix] of [
        ['pi_default', 'd'],
        ['pi_merchant', 'm'],
      ]) {
        await db.query("INSERT INTO charges (id, payment_id, currency, amount, stripe_created) VALUES (?, ?, 'usd', 100, 1)", [`ch_${suffix}`, payment]);
        await db.query("INSERT INTO refunds (id, payment_id, currency, amount, status, status_event_created, stripe_created) VALUES (?, ?, 'usd', 10, 'pending', 1, 1)", [`re_${suffix}`, payment]);
        await db.query(
          "INSERT INTO disputes (id, payment_id, charge_id, currency, amount, status, status_event_created, stripe_created) VALUES (?, ?, ?, 'usd', 10, 'needs_response', 1, 1)",
          [`dp_${suffix}`, payment, `ch_${suffix}`],
        );
      }
      await upgrade();
      for (const table of ['charges', 'refunds', 'disputes']) {
        const rows = (await db.query(`SELECT payment_id, account_scope FROM ${table} ORDER BY payment_id`)) as { payment_id: string; account_scope: string }[];
        assert.deepEqual(rows, [
          { payment_id: 'pi_default', account_scope: '' },
          { payment_id: 'pi_merchant', account_scope: 'ma_00000000000000000001' },
        ], table);
      }
    } finally {
      await db.destroy();
    }
  });

  it('keys existing inbox rows and their history by the account of the endpoint they came in on', async () => {
    const { db, upgrade } = await migratedUpTo('ScopeInboxToAccounts1764230510000');
    try {
      await db.query(
        `INSERT INTO stripe_events (id, account_id, type, livemode, stripe_created, payload, ingest_batch)
         VALUES ('evt_default', NULL, 'x', 0, 1, '{}', 'old'), ('evt_merchant', 'ma_00000000000000000001', 'x', 0, 1, '{}', 'old')`,
      );
      await db.query("INSERT INTO event_attempts (event_id, attempt, started_at, finished_at, outcome) VALUES ('evt_default', 1, NOW(3), NOW(3), 'processed'), ('evt_merchant', 1, NOW(3), NOW(3), 'processed')");
      await db.query("INSERT INTO event_replays (event_id, audit_id) VALUES ('evt_default', 1), ('evt_merchant', 1)");
      await upgrade();
      for (const [table, column] of [
        ['stripe_events', 'id'],
        ['event_attempts', 'event_id'],
        ['event_replays', 'event_id'],
      ]) {
        assert.deepEqual(await db.query(`SELECT ${column} AS id, account_scope FROM ${table} ORDER BY ${column}`), [
          { id: 'evt_default', account_scope: '' },
          { id: 'evt_merchant', account_scope: 'ma_00000000000000000001' },
        ], table);
      }
      // The same id for another account is another row now; the scope cannot disagree with account_id.
      await db.query("INSERT INTO stripe_events (id, account_id, account_scope, type, livemode, stripe_created, payload, ingest_batch) VALUES ('evt_default', 'ma_00000000000000000001', 'ma_00000000000000000001', 'x', 0, 1, '{}', 'new')");
      await assert.rejects(
        db.query("INSERT INTO stripe_events (id, account_id, type, livemode, stripe_created, payload, ingest_batch) VALUES ('evt_other', 'ma_00000000000000000001', 'x', 0, 1, '{}', 'new')"),
        /chk_stripe_events_scope/,
      );
    } finally {
      await db.destroy();
    }
  });

  it('leaves a Stripe account connected to several merchant accounts with the first connected, and warns the others', async () => {
    const { db, upgrade } = await migratedUpTo('OneMerchantPerStripeAccount1764230520000');
    try {
      const connect = async (accountId: string, stripeAccountId: string | null, connectedAt: string, warnings: string | null = null) => {
        await db.query('INSERT INTO accounts (id, name) VALUES (?, ?)', [accountId, accountId]);
        await db.query(
          `INSERT INTO stripe_connections (account_id, mode, key_last4, restricted, secret_key_enc, stripe_account_id, warnings, connected_at)
           VALUES (?, 'test', 'abcd', 0, 'sealed', ?, ?, ?)`,
          [accountId, stripeAccountId, warnings, connectedAt],
        );
      };
      await connect('ma_00000000000000000002', 'acct_shared', '2025-02-01');
      await connect('ma_00000000000000000001', 'acct_shared', '2025-01-01');
      await connect('ma_00000000000000000003', 'acct_shared', '2025-03-01', JSON.stringify(['Restricted key.']));
      await connect('ma_00000000000000000004', 'acct_alone', '2025-01-01');
      await connect('ma_00000000000000000005', null, '2025-01-01');
      await connect('ma_00000000000000000006', null, '2025-01-01');
      await upgrade();
      const rows = (await db.query('SELECT account_id, stripe_account_id, warnings FROM stripe_connections ORDER BY account_id')) as {
        account_id: string;
        stripe_account_id: string | null;
        warnings: string | null;
      }[];
      assert.deepEqual(
        rows.map((r) => [r.account_id, r.stripe_account_id]),
        [
          ['ma_00000000000000000001', 'acct_shared'],
          ['ma_00000000000000000002', null],
          ['ma_00000000000000000003', null],
          ['ma_00000000000000000004', 'acct_alone'],
          ['ma_00000000000000000005', null],
          ['ma_00000000000000000006', null],
        ],
      );
      assert.equal(rows[0]!.warnings, null);
      for (const row of [rows[1]!, rows[2]!]) {
        assert.match(JSON.parse(row.warnings!).at(-1), /acct_shared is also connected to merchant account ma_00000000000000000001, which keeps it/);
      }
      assert.equal(JSON.parse(rows[2]!.warnings!)[0], 'Restricted key.');
    } finally {
      await db.destroy();
    }
  });

  it('keeps tokens made before scopes for every account, and never lets a scoped token outlive its account', async () => {
    const { db, upgrade } = await migratedUpTo('ScopeTokensToAccounts1764230818000');
    try {
      await db.query("INSERT INTO accounts (id, name) VALUES ('ma_00000000000000000001', 'Kept')");
      await db.query("INSERT INTO access_tokens (id, name, role, token_hash, last_four) VALUES ('tok_old', 'before scopes', 'accountant', UNHEX(SHA2('old', 256)), 'abcd')");
      await upgrade();
      assert.deepEqual(await db.query("SELECT id, account_id FROM access_tokens WHERE id = 'tok_old'"), [{ id: 'tok_old', account_id: null }]);
      await db.query(
        "INSERT INTO access_tokens (id, name, role, account_id, token_hash, last_four) VALUES ('tok_new', 'scoped', 'accountant', 'ma_00000000000000000001', UNHEX(SHA2('new', 256)), 'efgh')",
      );
      // Deleted from under it, the token's account_id could only become null: every account.
      await assert.rejects(db.query("DELETE FROM accounts WHERE id = 'ma_00000000000000000001'"), /fk_access_tokens_account/);
      await assert.rejects(
        db.query("INSERT INTO access_tokens (id, name, role, account_id, token_hash, last_four) VALUES ('tok_bad', 'x', 'accountant', 'ma_nope', UNHEX(SHA2('bad', 256)), 'ijkl')"),
        /fk_access_tokens_account/,
      );
    } finally {
      await db.destroy();
    }
  });
});
