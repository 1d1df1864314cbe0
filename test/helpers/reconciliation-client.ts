import assert from 'node:assert/strict';
import { startFakeStripe, type FakeStripe } from './fake-stripe.js';
import { FakeBalanceTransactions } from './fake-balance-transactions.js';
import { startTestService, type TestService } from './test-service.js';
import { uniqueDatabaseUrl } from './test-database.js';
import { auth } from './billing-client.js';
import { waitFor } from './wait-for.js';

export interface ReconciliationRig {
  t: TestService;
  fake: FakeStripe;
  balance: FakeBalanceTransactions;
  stop(): Promise<void>;
}

/** The real service on a database of its own (totals must see only this test's invoices), with a fake Stripe API that lists balance transactions. */
export async function startReconciliationRig(label: string, env: Record<string, string> = {}): Promise<ReconciliationRig> {
  const fake = await startFakeStripe();
  const key = `sk_test_${label}_0123456789abcdef`;
  fake.addAccount({ keys: [key] });
  const balance = new FakeBalanceTransactions(fake);
  const t = await startTestService({ STRIPE_API_BASE: fake.url, STRIPE_SECRET_KEY: key, DATABASE_URL: uniqueDatabaseUrl(label), ...env });
  return {
    t,
    fake,
    balance,
    async stop() {
      await t.stop();
      await fake.stop();
    },
  };
}

export interface PayoutItemsState {
  items_status: string;
  items_requested_gen: number;
  items_fetched_gen: number;
}

/** Waits until every requested fetch of the payout's items has been carried out (or has failed for good). */
export async function itemsSettled(t: TestService, payoutId: string, timeoutMs = 20_000): Promise<PayoutItemsState> {
  return waitFor(
    `payout ${payoutId} items to be fetched`,
    async () => {
      const [row] = await t.query<PayoutItemsState>('SELECT items_status, items_requested_gen, items_fetched_gen FROM payouts WHERE id = ?', [payoutId]);
      if (!row) return undefined;
      const done = row.items_status === 'done' && row.items_fetched_gen === row.items_requested_gen;
      return done || row.items_status === 'failed' ? row : undefined;
    },
    timeoutMs,
    25,
  );
}

export async function getPayout(t: TestService, id: string) {
  const res = await t.http.get(`/api/payouts/${id}`).set(auth);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body;
}

export async function reconciliationReport(t: TestService, query: Record<string, string> = {}) {
  const res = await t.http.get('/api/reconciliation/invoices').query(query).set(auth);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body;
}
