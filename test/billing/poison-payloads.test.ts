import assert from 'node:assert/strict';
import type Stripe from 'stripe';
import { startTestService, type TestService } from '../helpers/test-service.js';
import { auth, createInvoice, deliver, getInvoice, settled } from '../helpers/billing-client.js';
import { paymentEvents } from '../helpers/payment-events.js';
import { signedDelivery, stripeEvent, uniqueId } from '../helpers/stripe-events.js';
import { buildEvent } from '../helpers/stripe-objects.js';
import { waitFor } from '../helpers/wait-for.js';
import { eventHandlers } from '../../src/events/subscribed-events.js';
import type { HandlerRegistry } from '../../src/events/handler-registry.js';

/** A signed body as Stripe would send it, with `data` as given (anything at all). */
function eventWithData(type: string, data: unknown): { id: string; payload: string } {
  const id = uniqueId('evt');
  return { id, payload: JSON.stringify({ ...buildEvent({ id, type }), data }) };
}

describe('poison payloads: a signed event is stored whatever its object holds, and a bad field fails it at once', () => {
  let t: TestService;
  /** A deploy that teaches the charge handler to read what it could not: replaying the event then applies it. */
  let handlerFixed = false;
  const registry: HandlerRegistry = {
    ...eventHandlers,
    'charge.succeeded': async (context) => {
      const object = context.event.data?.object as unknown as Record<string, unknown> | null | undefined;
      if (handlerFixed && object && object.amount === null) object.amount = 1000;
      return eventHandlers['charge.succeeded']!(context);
    },
  };
  before(async () => {
    t = await startTestService({ JOB_ATTEMPTS: '5', JOB_BACKOFF_MS: '2000' }, { registry });
  });
  after(() => t.stop());

  const post = (payload: string) => t.http.post('/webhooks/stripe').set(signedDelivery(payload).headers).send(payload);

  const cases: { name: string; type: string; data: unknown; error: RegExp }[] = [
    { name: 'data: null', type: 'charge.succeeded', data: null, error: /charge: expected object, got nothing/ },
    { name: 'data.object: null', type: 'charge.succeeded', data: { object: null }, error: /charge: expected object, got null/ },
    { name: 'an object without an id', type: 'refund.created', data: { object: { object: 'refund', amount: 500 } }, error: /refund\.id: expected an id \(a string\), got nothing/ },
    { name: 'an object id that is a number', type: 'charge.dispute.created', data: { object: { id: 42, object: 'dispute' } }, error: /dispute\.id: expected an id \(a string\), got 42/ },
    {
      name: 'an object id of 300 characters',
      type: 'payout.paid',
      data: { object: { id: `po_${'x'.repeat(297)}`, object: 'payout' } },
      error: /payout\.id: expected an id/,
    },
  ];
  for (const c of cases) {
    it(`${c.name} (${c.type}): 200, stored, failed at once as invalid_object naming the field`, async () => {
      const { id, payload } = eventWithData(c.type, c.data);
      const res = await post(payload);
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.body, { received: true, duplicate: false });
      const outcome = await settled(t, id);
      assert.deepEqual([outcome.status, outcome.reason, outcome.attempts], ['failed', 'invalid_object', 1], JSON.stringify(outcome));
      assert.match(outcome.last_error ?? '', c.error);
    });
  }

  it('a missing amount fails the event at once (no retry schedule), names the field, and a replay after the fix applies it', async () => {
    const invoice = await createInvoice(t, { amountDue: 1000 });
    const pay = paymentEvents({ invoiceId: invoice.id, amount: 1000 });
    const event = pay.charge('charge.succeeded');
    (event.data.object as unknown as Record<string, unknown>).amount = null;
    (event.data.object as unknown as Record<string, unknown>).metadata = { invoice_id: invoice.id };
    await deliver(t, event);
    const outcome = await settled(t, event.id);
    assert.deepEqual([outcome.status, outcome.reason, outcome.attempts], ['failed', 'invalid_object', 1]);
    assert.match(outcome.last_error ?? '', /charge\.amount: expected an integer, got null/);
    const [history] = await t.query<{ outcome: string; reason: string }>('SELECT outcome, reason FROM event_attempts WHERE event_id = ?', [event.id]);
    assert.deepEqual({ ...history }, { outcome: 'failed', reason: 'invalid_object' });
    const view = await t.http.get(`/api/ops/events/${event.id}`).set(auth);
    assert.equal(view.body.reason, 'invalid_object');
    assert.equal((await getInvoice(t, invoice.id)).status, 'open');

    handlerFixed = true;
    const replay = await t.http.post(`/api/ops/events/${event.id}/replay`).set(auth);
    assert.equal(replay.status, 202, replay.text);
    await waitFor('the replayed event processed', async () => ((await settled(t, event.id)).status === 'processed' ? true : undefined));
    assert.equal((await getInvoice(t, invoice.id)).status, 'paid');
  });

  it('a charge without amount_captured (older API versions) counts its amount when captured, instead of failing', async () => {
    const invoice = await createInvoice(t, { amountDue: 1000 });
    const pay = paymentEvents({ invoiceId: invoice.id, amount: 1000 });
    const event = pay.charge('charge.succeeded');
    const object = event.data.object as unknown as Record<string, unknown>;
    delete object.amount_captured;
    object.metadata = { invoice_id: invoice.id };
    (event as { api_version: string }).api_version = '2020-08-27';
    await deliver(t, event);
    assert.equal((await settled(t, event.id)).status, 'processed');
    const after = await getInvoice(t, invoice.id);
    assert.deepEqual([after.status, after.amountPaid], ['paid', 1000]);
  });

  it('a payout of an older version without automatic, method or reconciliation_status is stored with their fallbacks', async () => {
    const payoutId = uniqueId('po');
    const event = stripeEvent({ type: 'payout.created', resource: 'payout', object: { id: payoutId } }) as Stripe.Event & { api_version: string };
    const object = event.data.object as unknown as Record<string, unknown>;
    for (const key of ['automatic', 'method', 'reconciliation_status', 'failure_balance_transaction']) delete object[key];
    event.api_version = '2020-08-27';
    await deliver(t, event);
    assert.equal((await settled(t, event.id)).status, 'processed');
    const [row] = await t.query<{ automatic: number; stripe_reconciliation_status: string | null }>(
      'SELECT automatic, stripe_reconciliation_status FROM payouts WHERE id = ?',
      [payoutId],
    );
    assert.deepEqual({ ...row }, { automatic: 1, stripe_reconciliation_status: null });
  });
});
