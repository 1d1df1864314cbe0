import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { createDataSource } from '../src/db/data-source.js';
import { foldedTransaction } from '../src/db/folded-transaction.js';
import { lockPayment, lockPaymentsUpFront } from '../src/billing/payment-ledger.js';
import { startTestService, type TestService } from './helpers/test-service.js';
import { createInvoice } from './helpers/billing-client.js';
import { onPayout } from '../src/billing/payout.handlers.js';
import { payoutEvents } from './helpers/payout-events.js';
import { createMemoryLogger } from './helpers/memory-logger.js';

describe('row locks of payments and payouts', () => {
  let t: TestService;
  let dataSource: DataSource;

  before(async () => {
    t = await startTestService({ ROLE: 'api' });
    dataSource = createDataSource(t.config.DATABASE_URL);
    await dataSource.initialize();
  });
  after(async () => {
    await dataSource.destroy();
    await t.stop();
  });

  it('on an existing payment, transactions queue for its lock instead of deadlocking (a lone event and a batch behind a holder)', async () => {
    const invoice = await createInvoice(t, { amountDue: 1000 });
    const paymentId = `pi_locks_${randomBytes(6).toString('hex')}`;
    const origin = { accountId: null, livemode: false };
    // The payment exists, as after its first event; INSERT IGNORE would take it shared, and the two
    // waiters, each holding it shared once the holder commits, would deadlock upgrading it.
    await dataSource.query('INSERT INTO payments (id, account_id, livemode) VALUES (?, NULL, 0)', [paymentId]);

    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const holding = new Promise<void>((resolve) => (locked = resolve));
    const holder = foldedTransaction(dataSource, async (tx) => {
      await lockPayment(tx, paymentId, origin, invoice.id);
      locked();
      await released;
      return { final: [], done: () => 'holder' };
    });
    await holding;
    const lone = foldedTransaction(dataSource, async (tx) => {
      const { payment, invoice: lockedInvoice } = await lockPayment(tx, paymentId, origin, invoice.id);
      return { final: [], done: () => `lone ${payment.id === paymentId} ${lockedInvoice?.id === invoice.id}` };
    });
    const batch = foldedTransaction(dataSource, async (tx) => {
      await lockPaymentsUpFront(tx, [{ paymentId, referencedInvoiceId: invoice.id, origin }]);
      const { invoice: lockedInvoice } = await lockPayment(tx, paymentId, origin, invoice.id);
      return { final: [], done: () => `batch ${lockedInvoice?.id === invoice.id}` };
    });
    // Both are now waiting for the holder's lock.
    await new Promise((resolve) => setTimeout(resolve, 300));
    release();
    assert.deepEqual(await Promise.all([holder, lone, batch]), ['holder', 'lone true true', 'batch true']);
  });

  it('on an existing payout, two of its events queue for its lock instead of deadlocking', async () => {
    const payout = payoutEvents({ amount: 1_900 });
    const { logger } = createMemoryLogger();
    const apply = (event: ReturnType<typeof payout.event>) =>
      foldedTransaction(dataSource, async (manager) => {
        const outcome = await onPayout({ event, accountId: null, manager, logger });
        return { final: [], done: () => outcome?.ignored ?? 'applied' };
      });
    assert.equal(await apply(payout.event('payout.created')), 'applied');

    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const holding = new Promise<void>((resolve) => (locked = resolve));
    const holder = foldedTransaction(dataSource, async (tx) => {
      await tx.query('SELECT id FROM payouts WHERE id = ? FOR UPDATE', [payout.id]);
      locked();
      await released;
      return { final: [], done: () => 'holder' };
    });
    await holding;
    // INSERT IGNORE would give each waiter the row shared once the holder commits, and the two would
    // deadlock upgrading it; one of them would fail with ER_LOCK_DEADLOCK.
    const paid = apply(payout.event('payout.paid'));
    const completed = apply(payout.event('payout.reconciliation_completed'));
    await new Promise((resolve) => setTimeout(resolve, 300));
    release();
    assert.deepEqual(await Promise.all([holder, paid, completed]), ['holder', 'applied', 'applied']);
    const [row] = (await dataSource.query('SELECT status, stripe_reconciliation_status FROM payouts WHERE id = ?', [payout.id])) as {
      status: string;
      stripe_reconciliation_status: string;
    }[];
    assert.deepEqual({ ...row }, { status: 'paid', stripe_reconciliation_status: 'completed' });
  });
});
