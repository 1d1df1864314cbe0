import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type Stripe from 'stripe';
import { auth, deliver, settled } from './billing-client.js';
import type { Merchant } from './merchants.js';
import { bearer } from './ops-client.js';
import { paymentEvents } from './payment-events.js';
import { payoutEvents } from './payout-events.js';
import { stripeEvent, uniqueId } from './stripe-events.js';
import type { TestService } from './test-service.js';

/**
 * One account's books, as a scoped token must (or must not) see them: a paid invoice (its
 * payment intent and charge), an open invoice with a pay link, a payment that matches no
 * invoice, a payout, a processed event and an ignored one.
 */
export interface AccountBooks {
  /** null: the default account (STRIPE_WEBHOOK_SECRET, no merchant account). */
  accountId: string | null;
  invoiceId: string;
  invoiceNumber: string;
  openInvoiceId: string;
  openInvoiceNumber: string;
  payLinkId: string;
  paymentIntentId: string;
  chargeId: string;
  unmatchedPaymentId: string;
  payoutId: string;
  /** payment_intent.succeeded of the paid invoice: processed. */
  eventId: string;
  /** customer.created: ignored (unhandled_type). */
  ignoredEventId: string;
  /** An operator's catch-up run of the account (null: the default account, which has no key here). */
  catchUpJobId: string | null;
}

/** Every id and number of the books: none of them may appear in an answer to a token confined to another account. */
export const markersOf = (books: AccountBooks): string[] =>
  [
    books.accountId,
    books.invoiceId,
    books.invoiceNumber,
    books.openInvoiceId,
    books.openInvoiceNumber,
    books.payLinkId,
    books.paymentIntentId,
    books.chargeId,
    books.unmatchedPaymentId,
    books.payoutId,
    books.eventId,
    books.ignoredEventId,
    books.catchUpJobId,
  ].filter((marker): marker is string => marker !== null);

async function createInvoice(t: TestService, accountId: string | null, amountDue: number) {
  const number = `SCOPE-${randomBytes(5).toString('hex')}`;
  const res = await t.http
    .post('/api/invoices')
    .set(auth)
    .send({ number, currency: 'usd', amountDue, customer: { name: 'Scope Customer', email: 'scope@example.com' }, ...(accountId ? { accountId } : {}) });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return { id: res.body.id as string, number };
}

/** Builds the books of a merchant account, or of the default account when `merchant` is null. */
export async function accountBooks(t: TestService, merchant: Merchant | null): Promise<AccountBooks> {
  const accountId = merchant?.accountId ?? null;
  const send = async (event: Stripe.Event) => {
    if (merchant) {
      await merchant.deliver(event);
      return merchant.settled(event.id);
    }
    await deliver(t, event);
    return settled(t, event.id);
  };
  const paid = await createInvoice(t, accountId, 1000);
  const open = await createInvoice(t, accountId, 2500);
  const pay = paymentEvents({ invoiceId: paid.id, amount: 1000 });
  const succeeded = pay.paymentIntent('payment_intent.succeeded');
  for (const event of [succeeded, pay.charge('charge.succeeded')]) assert.equal((await send(event)).status, 'processed', event.type);
  const unmatched = paymentEvents({ invoiceId: null, amount: 700 });
  await send(unmatched.paymentIntent('payment_intent.succeeded'));
  const payout = payoutEvents({ amount: 990 });
  assert.equal((await send(payout.event('payout.created'))).status, 'processed');
  const ignored = stripeEvent({ type: 'customer.created', resource: 'customer', object: { id: uniqueId('cus') } });
  assert.equal((await send(ignored)).status, 'ignored');
  const link = await t.http.post(`/api/invoices/${open.id}/pay-link`).set(auth).send({});
  assert.equal(link.status, 201, JSON.stringify(link.body));
  let catchUpJobId: string | null = null;
  if (accountId) {
    const run = await t.http.post('/api/ops/catch-up').set(auth).send({ accountId, since: '1h' });
    assert.equal(run.status, 202, JSON.stringify(run.body));
    catchUpJobId = run.body.jobs[0].jobId;
  }
  return {
    accountId,
    invoiceId: paid.id,
    invoiceNumber: paid.number,
    openInvoiceId: open.id,
    openInvoiceNumber: open.number,
    payLinkId: link.body.id,
    paymentIntentId: pay.paymentIntentId,
    chargeId: pay.chargeId,
    unmatchedPaymentId: unmatched.paymentIntentId,
    payoutId: payout.id,
    eventId: succeeded.id,
    ignoredEventId: ignored.id,
    catchUpJobId,
  };
}

/** Books that exist nowhere: what a truly missing object answers, to compare another account's with. */
export const missingBooks = (): AccountBooks => ({
  accountId: `ma_${'0'.repeat(20)}`,
  invoiceId: `inv_${'0'.repeat(24)}`,
  invoiceNumber: 'SCOPE-MISSING',
  openInvoiceId: `inv_${'1'.repeat(24)}`,
  openInvoiceNumber: 'SCOPE-MISSING-OPEN',
  payLinkId: `pl_${'0'.repeat(24)}`,
  paymentIntentId: 'pi_missing000000',
  chargeId: 'ch_missing000000',
  unmatchedPaymentId: 'pi_missing000001',
  payoutId: 'po_missing000000',
  eventId: 'evt_missing000000',
  ignoredEventId: 'evt_missing000001',
  catchUpJobId: 'op-missing-000000000000',
});

/** Creates a token (as ADMIN_TOKEN) with a role and, when given, an account. */
export async function scopedToken(t: TestService, role: string, accountId: string | null, name = `${role}-${accountId ?? 'all'}`) {
  const res = await t.http.post('/api/tokens').set(auth).send({ name, role, ...(accountId ? { accountId } : {}) });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return { id: res.body.id as string, token: res.body.token as string, headers: bearer(res.body.token as string) };
}

/** An answer's body as text: JSON or CSV alike. */
export const bodyText = (res: { text?: string; body?: unknown }) => res.text ?? JSON.stringify(res.body ?? '');
