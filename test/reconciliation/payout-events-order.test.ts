import assert from 'node:assert/strict';
import type Stripe from 'stripe';
import { deliverInOrder } from '../helpers/billing-client.js';
import { payoutEvents, type PayoutEventType } from '../helpers/payout-events.js';
import { txns } from '../helpers/fake-balance-transactions.js';
import { getPayout, itemsSettled, startReconciliationRig, type ReconciliationRig } from '../helpers/reconciliation-client.js';
import { uniqueId } from '../helpers/stripe-events.js';
import { inParallel, permutations } from '../helpers/orderings.js';

/** Redelivers one event (same id) and resends another under a new id, at positions that vary with k. */
function withDuplicates(events: Stripe.Event[], k: number): Stripe.Event[] {
  const out = [...events];
  out.splice((k * 7) % (out.length + 1), 0, events[k % events.length]!);
  const resent = structuredClone(events[(k + 1) % events.length]!);
  resent.id = uniqueId('evt');
  out.splice((k * 3) % (out.length + 1), 0, resent);
  return out;
}

const NATURAL: PayoutEventType[] = ['payout.created', 'payout.paid', 'payout.reconciliation_completed', 'payout.failed'];

describe('payout events in any order', function () {
  this.timeout(180_000);
  let rig: ReconciliationRig;
  before(async () => {
    rig = await startReconciliationRig('payout_order');
  });
  after(() => rig.stop());

  /** A payout of two charges and a fee, its events in `order` (indexes into NATURAL), with duplicates when k is given. */
  async function run(order: number[], k?: number) {
    const payout = payoutEvents({ amount: 1_900 });
    rig.balance.set(payout.id, [
      txns.payout({ payoutId: payout.id, amount: 1_900, id: payout.balanceTransactionId }),
      txns.charge({ chargeId: uniqueId('ch'), paymentIntentId: uniqueId('pi'), amount: 1_000, fee: 59 }),
      txns.charge({ chargeId: uniqueId('ch'), paymentIntentId: uniqueId('pi'), amount: 1_000, fee: 59 }),
      txns.stripeFee({ amount: -18 }),
    ]);
    const natural = NATURAL.map((type) => payout.event(type));
    const typeOf = new Map(natural.map((e) => [e.id, e.type]));
    const events = order.map((i) => natural[i]!);
    const delivered = k === undefined ? events : withDuplicates(events, k);
    // A resent event describes the same change as its original: it counts as that type.
    for (const event of delivered) if (!typeOf.has(event.id)) typeOf.set(event.id, event.type);
    const settled = await deliverInOrder(rig.t, delivered);
    await itemsSettled(rig.t, payout.id);
    const view = await getPayout(rig.t, payout.id);
    return {
      settled,
      state: {
        status: view.status,
        amount: view.amount,
        arrivalDate: view.arrivalDate,
        failureCode: view.failureCode,
        stripeReconciliationStatus: view.stripeReconciliationStatus,
        history: view.history.map((h: { status: string; eventId: string }) => [h.status, typeOf.get(h.eventId) ?? 'unknown']),
        itemsStatus: view.itemsStatus,
        itemCount: view.itemCount,
        itemsNet: view.itemsNet,
        difference: view.difference,
        tieOut: view.tieOut,
        reconciled: view.reconciled,
      },
    };
  }

  it('every order of created, paid, reconciliation_completed and failed, with duplicates, ends where the natural order ends', async () => {
    const { state: expected } = await run([0, 1, 2, 3]);
    assert.deepEqual(expected, {
      status: 'failed',
      amount: 1_900,
      arrivalDate: expected.arrivalDate,
      failureCode: 'account_closed',
      stripeReconciliationStatus: 'completed',
      history: [
        ['pending', 'payout.created'],
        ['paid', 'payout.paid'],
        ['failed', 'payout.failed'],
      ],
      itemsStatus: 'done',
      itemCount: 3,
      itemsNet: 1_900,
      difference: 0,
      tieOut: 'ties_out',
      reconciled: false,
    });

    const orders = permutations([0, 1, 2, 3]);
    const outcomes = await inParallel(
      orders.map((order, k) => async () => ({ order, ...(await run(order, k)) })),
      8,
    );
    for (const { order, settled, state } of outcomes) {
      assert.ok(settled.every((s) => s.status !== 'failed'), `order ${order.join(',')}: an event failed: ${JSON.stringify(settled)}`);
      assert.deepEqual(state, expected, `order ${order.join(',')} (with duplicates)`);
    }
    assert.equal(outcomes.length, 24);
  });

  it('a status that arrives after a later one is kept in the history but does not move the payout back', async () => {
    const { state, settled } = await run([3, 0, 1]);
    assert.equal(state.status, 'failed');
    assert.deepEqual(state.history.map(([status]: string[]) => status), ['pending', 'paid', 'failed']);
    assert.ok(settled.every((s) => s.status === 'processed'), 'each brought something new (a status seen, a fetch owed)');
  });
});
