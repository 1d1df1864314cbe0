import assert from 'node:assert/strict';
import type Stripe from 'stripe';
import { startTestService, type TestService } from '../helpers/test-service.js';
import { createInvoice, deliverInOrder, getInvoice } from '../helpers/billing-client.js';
import { stripeEvent, uniqueId } from '../helpers/stripe-events.js';

/**
 * Before 2025-03-31 Stripe created a Refund object for the part of an authorization released by
 * a partial capture or a cancel (changelog 2025-03-31.basil: "Partially capturing or cancelling
 * payments no longer creates a Refund"; before it that Refund was in webhook events). From
 * 2024-10-28 card refunds come as refund.* events, so an endpoint on 2024-10-28 .. 2025-02-24
 * gets refund.created for the release: it is no money given back.
 */
const ACACIA = '2024-12-18.acacia';

function scenario(invoiceId: string, amount: number) {
  const pi = uniqueId('pi');
  const ch = uniqueId('ch');
  let clock = 1_760_000_000;
  const v = (event: Stripe.Event) => ({ ...event, api_version: ACACIA }) as Stripe.Event;
  const charge = (type: string, fields: Record<string, unknown>) =>
    v(stripeEvent({ type, resource: 'charge', created: (clock += 10), object: { id: ch, payment_intent: pi, amount, currency: 'usd', metadata: { invoice_id: invoiceId }, status: 'succeeded', ...fields } }));
  const intent = (type: string, fields: Record<string, unknown>) =>
    v(stripeEvent({ type, resource: 'payment_intent', created: (clock += 10), object: { id: pi, amount, currency: 'usd', metadata: { invoice_id: invoiceId }, latest_charge: ch, ...fields } }));
  const refund = (type: string, id: string, refundAmount: number, status: string) =>
    v(stripeEvent({ type, resource: 'refund', created: (clock += 10), object: { id, amount: refundAmount, status, charge: ch, payment_intent: pi, currency: 'usd', reason: null } }));
  return { charge, intent, refund };
}

describe('the Refund object Stripe creates for a released authorization (API before 2025-03-31)', () => {
  let t: TestService;
  before(async () => {
    t = await startTestService();
  });
  after(() => t.stop());

  it('a partial capture of 600 of 1000 on 2024-12-18.acacia, with refund.created for the released 400, is paid 600 and refunded 0', async () => {
    const invoice = await createInvoice(t, { amountDue: 600 });
    const s = scenario(invoice.id, 1000);
    const settled = await deliverInOrder(t, [
      s.charge('charge.succeeded', { captured: false, amount_captured: 0, amount_refunded: 0 }),
      // The release's Refund first: counted until the charge says what it released.
      s.refund('refund.created', uniqueId('re'), 400, 'succeeded'),
      s.charge('charge.captured', { captured: true, amount_captured: 600, amount_refunded: 400 }),
      s.charge('charge.refunded', { captured: true, amount_captured: 600, amount_refunded: 400, refunded: false }),
      s.intent('payment_intent.succeeded', { status: 'succeeded', amount_received: 600 }),
    ]);
    assert.deepEqual(settled.map((e) => e.status), ['processed', 'processed', 'processed', 'processed', 'processed']);
    const i = await getInvoice(t, invoice.id);
    assert.deepEqual([i.status, i.amountPaid, i.amountRefunded], ['paid', 600, 0]);
  });

  it('an authorization canceled on 2024-12-18.acacia, with refund.created for the released 1000, leaves the invoice open, refunded 0', async () => {
    const invoice = await createInvoice(t, { amountDue: 1000 });
    const s = scenario(invoice.id, 1000);
    await deliverInOrder(t, [
      s.charge('charge.succeeded', { captured: false, amount_captured: 0, amount_refunded: 0 }),
      s.refund('refund.created', uniqueId('re'), 1000, 'succeeded'),
      s.charge('charge.refunded', { captured: false, amount_captured: 0, amount_refunded: 1000, refunded: true }),
      s.intent('payment_intent.canceled', { status: 'canceled', amount_received: 0 }),
    ]);
    const i = await getInvoice(t, invoice.id);
    assert.deepEqual([i.status, i.amountPaid, i.amountRefunded], ['open', 0, 0]);
  });
});
