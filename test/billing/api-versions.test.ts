import assert from 'node:assert/strict';
import type Stripe from 'stripe';
import { startTestService, type TestService } from '../helpers/test-service.js';
import { createInvoice, deliverInOrder, getInvoice } from '../helpers/billing-client.js';
import { stripeEvent, uniqueId } from '../helpers/stripe-events.js';
import { buildRefund } from '../helpers/stripe-objects.js';

type Invoice = Awaited<ReturnType<typeof getInvoice>>;

/**
 * Stripe renders each event in the endpoint's API version. Each boundary where a shape changed,
 * in the shapes before and after it, through the webhook endpoint and the worker: the invoice
 * must end the same whichever version the events came in.
 */
const OLD_2022 = '2022-08-01';
const OLD_2024 = '2024-06-20';
const CURRENT = '2025-10-29.clover';

/** One payment of one invoice, its events rendered in `version`. */
function scenario(invoiceId: string, version: string, amount = 1000) {
  const pi = uniqueId('pi');
  const ch = uniqueId('ch');
  let clock = 1_760_000_000;
  const at = (event: Stripe.Event) => {
    (event as { api_version: string }).api_version = version;
    return event;
  };
  const charge = (type: string, fields: Record<string, unknown>) =>
    at(
      stripeEvent({
        type,
        resource: 'charge',
        created: (clock += 10),
        object: { id: ch, payment_intent: pi, amount, currency: 'usd', metadata: { invoice_id: invoiceId }, status: 'succeeded', ...fields },
      }),
    );
  const intent = (type: string, fields: Record<string, unknown>) =>
    at(
      stripeEvent({
        type,
        resource: 'payment_intent',
        created: (clock += 10),
        object: { id: pi, amount, currency: 'usd', metadata: { invoice_id: invoiceId }, latest_charge: ch, ...fields },
      }),
    );
  const refund = (type: string, id: string, refundAmount: number, status: string) =>
    at(stripeEvent({ type, resource: 'refund', created: (clock += 10), object: { id, amount: refundAmount, status, charge: ch, payment_intent: pi, currency: 'usd' } }));
  const dispute = (type: string, id: string, status: string) =>
    at(stripeEvent({ type, resource: 'dispute', created: (clock += 10), object: { id, amount, status, charge: ch, payment_intent: pi, currency: 'usd' } }));
  return { pi, ch, charge, intent, refund, dispute };
}
type Scenario = ReturnType<typeof scenario>;

describe('Stripe API versions and the event types they bring', () => {
  let t: TestService;
  before(async () => {
    t = await startTestService();
  });
  after(() => t.stop());

  const table: { name: string; version: string; events: (s: Scenario) => Stripe.Event[]; expect: (i: Invoice) => void }[] = [
    // 2022-11-15: before it, charge.refunded carries the refund objects (charge.refunds expanded).
    {
      name: 'charge.refunded before 2022-11-15 records the refunds the charge lists',
      version: OLD_2022,
      events: (s) => [
        s.intent('payment_intent.succeeded', { status: 'succeeded', amount_received: 1000, latest_charge: undefined, charges: { object: 'list', data: [{ id: s.ch }] } }),
        s.charge('charge.refunded', {
          captured: true,
          amount_captured: 1000,
          amount_refunded: 300,
          refunds: { object: 'list', has_more: false, data: [buildRefund({ id: uniqueId('re'), amount: 300, status: 'succeeded', charge: s.ch, payment_intent: s.pi })] },
        }),
      ],
      expect: (i) => {
        assert.deepEqual([i.status, i.amountPaid, i.amountRefunded], ['partially_refunded', 1000, 300]);
        assert.deepEqual(
          i.refunds.map((r: { amount: number; status: string }) => [r.amount, r.status]),
          [[300, 'succeeded']],
        );
      },
    },
    {
      name: 'charge.refunded since 2022-11-15 counts amount_refunded; the refund objects come from refund events',
      version: CURRENT,
      events: (s) => [
        s.intent('payment_intent.succeeded', { status: 'succeeded', amount_received: 1000 }),
        s.charge('charge.refunded', { captured: true, amount_captured: 1000, amount_refunded: 300 }),
      ],
      expect: (i) => {
        assert.deepEqual([i.status, i.amountPaid, i.amountRefunded, i.refunds.length], ['partially_refunded', 1000, 300, 0]);
      },
    },
    {
      name: 'payment_intent.payment_failed before 2022-11-15 names the declined attempt by PaymentIntent.charges: one attempt reported twice is one failure',
      version: OLD_2022,
      events: (s) => {
        const failed = () =>
          s.intent('payment_intent.payment_failed', {
            status: 'requires_payment_method',
            amount_received: 0,
            latest_charge: undefined,
            charges: { object: 'list', data: [{ id: `${s.ch}_declined` }] },
            last_payment_error: { type: 'card_error', code: 'card_declined', message: 'Your card was declined.' },
          });
        return [failed(), failed()];
      },
      expect: (i) => {
        assert.equal(i.status, 'open');
        assert.equal(i.payments[0].failures.length, 1);
      },
    },
    // 2024-10-28: before it, a card refund's status changes come as charge.refund.updated.
    {
      name: 'charge.refund.updated (before 2024-10-28): a refund that failed gives the money back to the invoice',
      version: OLD_2024,
      events: (s) => [
        s.intent('payment_intent.succeeded', { status: 'succeeded', amount_received: 1000 }),
        s.refund('charge.refund.updated', 're_old_failing', 500, 'succeeded'),
        s.refund('charge.refund.updated', 're_old_failing', 500, 'failed'),
      ],
      expect: (i) => {
        assert.deepEqual([i.status, i.amountRefunded, i.refunds[0].status], ['paid', 0, 'failed']);
      },
    },
    {
      name: 'refund.failed (since 2024-10-28): a refund that failed gives the money back to the invoice',
      version: CURRENT,
      events: (s) => [
        s.intent('payment_intent.succeeded', { status: 'succeeded', amount_received: 1000 }),
        s.refund('refund.created', 're_new_failing', 500, 'succeeded'),
        s.refund('refund.failed', 're_new_failing', 500, 'failed'),
      ],
      expect: (i) => {
        assert.deepEqual([i.status, i.amountRefunded, i.refunds[0].status], ['paid', 0, 'failed']);
      },
    },
    {
      name: 'charge.refund.updated: a canceled refund gives the money back too',
      version: OLD_2024,
      events: (s) => [
        s.intent('payment_intent.succeeded', { status: 'succeeded', amount_received: 1000 }),
        s.refund('charge.refund.updated', 're_old_canceled', 1000, 'pending'),
        s.refund('charge.refund.updated', 're_old_canceled', 1000, 'canceled'),
      ],
      expect: (i) => {
        assert.deepEqual([i.status, i.amountRefunded, i.refunds[0]?.status], ['paid', 0, 'canceled']);
      },
    },
    // 2025-03-31: before it, a partial capture or a released authorization raises amount_refunded.
    {
      name: 'a partial capture before 2025-03-31 (charge.captured, then charge.refunded for the rest) is paid for what was captured, not refunded',
      version: OLD_2024,
      events: (s) => [
        s.charge('charge.succeeded', { captured: false, amount_captured: 0, amount_refunded: 0 }),
        s.charge('charge.captured', { captured: true, amount_captured: 600, amount_refunded: 400 }),
        s.charge('charge.refunded', { captured: true, amount_captured: 600, amount_refunded: 400, refunded: false }),
        s.intent('payment_intent.succeeded', { status: 'succeeded', amount_received: 600 }),
      ],
      expect: (i) => {
        assert.deepEqual([i.status, i.amountPaid, i.amountRefunded], ['partially_paid', 600, 0]);
      },
    },
    {
      name: 'a partial capture since 2025-03-31: amount_captured stays 0 until charge.captured, then the invoice is paid for what was captured',
      version: CURRENT,
      events: (s) => [
        s.charge('charge.succeeded', { captured: false, amount_captured: 0, amount_refunded: 0 }),
        s.charge('charge.captured', { captured: true, amount_captured: 600, amount_refunded: 0 }),
      ],
      expect: (i) => {
        assert.deepEqual([i.status, i.amountPaid, i.amountRefunded], ['partially_paid', 600, 0]);
      },
    },
    {
      name: 'a partial capture, then a real refund, before 2025-03-31: only the refund counts as refunded',
      version: OLD_2024,
      events: (s) => [
        s.charge('charge.captured', { captured: true, amount_captured: 600, amount_refunded: 400 }),
        s.charge('charge.refunded', { captured: true, amount_captured: 600, amount_refunded: 500 }),
      ],
      expect: (i) => {
        assert.deepEqual([i.status, i.amountPaid, i.amountRefunded], ['partially_refunded', 600, 100]);
      },
    },
    {
      name: 'an authorization that expired before 2025-03-31 (charge.expired, charge.refunded) is no payment and no refund',
      version: OLD_2024,
      events: (s) => [
        s.charge('charge.succeeded', { captured: false, amount_captured: 0, amount_refunded: 0 }),
        s.charge('charge.expired', { captured: false, amount_captured: 0, amount_refunded: 1000, refunded: true }),
        s.charge('charge.refunded', { captured: false, amount_captured: 0, amount_refunded: 1000, refunded: true }),
        s.intent('payment_intent.canceled', { status: 'canceled', amount_received: 0 }),
      ],
      expect: (i) => {
        assert.deepEqual([i.status, i.amountPaid, i.amountRefunded], ['open', 0, 0]);
      },
    },
    {
      name: 'an authorization that expired since 2025-03-31 (charge.expired) is no payment and no refund',
      version: CURRENT,
      events: (s) => [
        s.charge('charge.succeeded', { captured: false, amount_captured: 0, amount_refunded: 0 }),
        s.charge('charge.expired', { captured: false, amount_captured: 0, amount_refunded: 0 }),
        s.intent('payment_intent.canceled', { status: 'canceled', amount_received: 0 }),
      ],
      expect: (i) => {
        assert.deepEqual([i.status, i.amountPaid, i.amountRefunded], ['open', 0, 0]);
      },
    },
    {
      name: 'an authorization canceled before 2025-03-31 with the refund object listed on the charge (before 2022-11-15) is no refund',
      version: OLD_2022,
      events: (s) => [
        s.charge('charge.refunded', {
          captured: false,
          amount_captured: 0,
          amount_refunded: 1000,
          refunded: true,
          refunds: { object: 'list', has_more: false, data: [buildRefund({ id: uniqueId('re'), amount: 1000, status: 'succeeded', charge: s.ch })] },
        }),
      ],
      expect: (i) => {
        assert.deepEqual([i.status, i.amountPaid, i.amountRefunded, i.refunds.length], ['open', 0, 0, 0]);
      },
    },
    // Disputes: an inquiry holds no money until it escalates and the funds are withdrawn.
    {
      name: 'an inquiry (warning_needs_response) leaves the invoice paid; charge.dispute.updated to needs_response makes it disputed',
      version: CURRENT,
      events: (s) => [
        s.intent('payment_intent.succeeded', { status: 'succeeded', amount_received: 1000 }),
        s.dispute('charge.dispute.created', 'du_inquiry_1', 'warning_needs_response'),
        s.dispute('charge.dispute.updated', 'du_inquiry_1', 'needs_response'),
      ],
      expect: (i) => {
        assert.deepEqual([i.status, i.disputes[0].status], ['disputed', 'needs_response']);
      },
    },
    {
      name: 'charge.dispute.funds_withdrawn on an escalated inquiry makes the invoice disputed',
      version: CURRENT,
      events: (s) => [
        s.intent('payment_intent.succeeded', { status: 'succeeded', amount_received: 1000 }),
        s.dispute('charge.dispute.created', 'du_funds_1', 'warning_needs_response'),
        s.dispute('charge.dispute.funds_withdrawn', 'du_funds_1', 'needs_response'),
      ],
      expect: (i) => {
        assert.equal(i.status, 'disputed');
      },
    },
    {
      name: 'charge.dispute.funds_withdrawn whose dispute still reads warning_needs_response: the funds are gone, the invoice is disputed',
      version: CURRENT,
      events: (s) => [
        s.intent('payment_intent.succeeded', { status: 'succeeded', amount_received: 1000 }),
        s.dispute('charge.dispute.created', 'du_funds_3', 'warning_needs_response'),
        s.dispute('charge.dispute.funds_withdrawn', 'du_funds_3', 'warning_needs_response'),
      ],
      expect: (i) => {
        assert.deepEqual([i.status, i.disputes[0].status], ['disputed', 'needs_response']);
      },
    },
    {
      name: 'charge.dispute.funds_reinstated after a won dispute: the invoice is paid again',
      version: CURRENT,
      events: (s) => [
        s.intent('payment_intent.succeeded', { status: 'succeeded', amount_received: 1000 }),
        s.dispute('charge.dispute.funds_withdrawn', 'du_funds_2', 'needs_response'),
        s.dispute('charge.dispute.funds_reinstated', 'du_funds_2', 'won'),
      ],
      expect: (i) => {
        assert.deepEqual([i.status, i.disputes[0].status], ['paid', 'won']);
      },
    },
    {
      name: 'an inquiry that stays an inquiry (warning_under_review via charge.dispute.updated) leaves the invoice paid',
      version: CURRENT,
      events: (s) => [
        s.intent('payment_intent.succeeded', { status: 'succeeded', amount_received: 1000 }),
        s.dispute('charge.dispute.created', 'du_inquiry_2', 'warning_needs_response'),
        s.dispute('charge.dispute.updated', 'du_inquiry_2', 'warning_under_review'),
      ],
      expect: (i) => {
        assert.deepEqual([i.status, i.disputes[0]?.status], ['paid', 'warning_under_review']);
      },
    },
  ];

  for (const row of table) {
    it(`${row.name} (API ${row.version})`, async () => {
      const invoice = await createInvoice(t, { amountDue: 1000 });
      // Dispute ids are per test: each row gets its own.
      const s = scenario(invoice.id, row.version);
      const events = row.events(s).map((event) => {
        const object = event.data.object as unknown as { id: string; object: string };
        if (object.object === 'dispute' || object.object === 'refund') object.id = `${object.id}_${s.pi.slice(3, 11)}`;
        return event;
      });
      const outcomes = await deliverInOrder(t, events);
      for (const outcome of outcomes) assert.ok(['processed', 'ignored'].includes(outcome.status), JSON.stringify(outcomes));
      row.expect(await getInvoice(t, invoice.id));
    });
  }
});
