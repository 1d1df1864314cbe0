import assert from 'node:assert/strict';
import type Stripe from 'stripe';
import { startTestService, type TestService } from '../helpers/test-service.js';
import { createInvoice, deliver, getInvoice } from '../helpers/billing-client.js';
import { paymentEvents } from '../helpers/payment-events.js';
import { uniqueId } from '../helpers/stripe-events.js';
import { waitFor } from '../helpers/wait-for.js';

describe('concurrent workers', function () {
  this.timeout(120_000);
  let t: TestService;
  before(async () => {
    t = await startTestService({ WORKER_CONCURRENCY: '16', JOB_ATTEMPTS: '10' });
  });
  after(() => t.stop());

  it('with hundreds of events over a few invoices arriving at once, ends with exact totals and nothing failed', async () => {
    const invoices = await Promise.all(Array.from({ length: 4 }, () => createInvoice(t, { amountDue: 60 * 1000 })));
    const events: Stripe.Event[] = [];
    const expected = new Map<string, { paid: number; refunded: number }>();
    invoices.forEach((invoice, n) => {
      let paid = 0;
      let refunded = 0;
      for (let i = 0; i < 30; i++) {
        const amount = 1000 + n * 10 + i; // distinct amounts, so a lost or doubled payment shows in the total
        const p = paymentEvents({ invoiceId: invoice.id, amount });
        events.push(p.paymentIntent('payment_intent.succeeded'), p.charge('charge.succeeded'));
        paid += amount;
        if (i % 3 === 0) {
          const refund = Math.floor(amount / 4);
          events.push(p.refund('refund.created', { id: uniqueId('re'), amount: refund, status: 'succeeded' }), p.charge('charge.refunded', { amountRefunded: refund }));
          refunded += refund;
        }
      }
      expected.set(invoice.id, { paid, refunded });
    });
    assert.ok(events.length >= 300);

    // All at once, shuffled: the queue hands them to 16 concurrent jobs in no useful order.
    events.sort(() => Math.random() - 0.5);
    await Promise.all(events.map((event) => deliver(t, event)));

    const ids = events.map((e) => e.id);
    await waitFor(
      'every event to be settled',
      async () => {
        const [row] = await t.query<{ n: number }>("SELECT COUNT(*) AS n FROM stripe_events WHERE id IN (?) AND status IN ('processed', 'ignored', 'failed')", [ids]);
        return row!.n === ids.length;
      },
      90_000,
      100,
    );
    const statuses = await t.query<{ status: string; n: number }>('SELECT status, COUNT(*) AS n FROM stripe_events WHERE id IN (?) GROUP BY status', [ids]);
    assert.deepEqual(statuses.filter((s) => s.status === 'failed'), [], 'no event failed');

    for (const invoice of invoices) {
      const after = await getInvoice(t, invoice.id);
      const { paid, refunded } = expected.get(invoice.id)!;
      assert.equal(after.amountPaid, paid, `${invoice.id} paid`);
      assert.equal(after.amountRefunded, refunded, `${invoice.id} refunded`);
      assert.equal(after.payments.length, 30);
      assert.equal(after.status, 'partially_refunded');
    }
  });
});
