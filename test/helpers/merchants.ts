import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type Stripe from 'stripe';
import { auth, type SettledEvent } from './billing-client.js';
import type { FakeStripe } from './fake-stripe.js';
import { signedDelivery } from './stripe-events.js';
import type { TestService } from './test-service.js';
import { waitFor } from './wait-for.js';

/** A merchant account connected to a Stripe account of its own, with the signing secret of its own endpoint. */
export interface Merchant {
  accountId: string;
  stripeAccountId: string;
  secretKey: string;
  webhookSecret: string;
  /** POST /webhooks/stripe/:accountId, signed with this merchant's secret. */
  deliver(event: Stripe.Event): Promise<{ duplicate: boolean }>;
  /** Waits until the worker has settled this merchant's copy of the event. */
  settled(eventId: string): Promise<SettledEvent>;
  /** An invoice of this merchant account. */
  invoice(amountDue?: number, currency?: string): Promise<string>;
}

/**
 * Creates a merchant account and connects a fresh Stripe account of the fake API to it
 * (one Stripe account per merchant account), passing the signing secret of an endpoint
 * the merchant "created itself", so no PUBLIC_BASE_URL is needed.
 */
export async function connectMerchant(t: TestService, fake: FakeStripe, name = 'Merchant'): Promise<Merchant> {
  const tag = randomBytes(8).toString('hex');
  const secretKey = `sk_test_51H${tag}merchant`;
  const stripeAccount = fake.addAccount({ id: `acct_${tag}`, keys: [secretKey] });
  const webhookSecret = `whsec_${tag}${randomBytes(8).toString('hex')}`;
  const created = await t.http.post('/api/accounts').set(auth).send({ name });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const accountId = created.body.id as string;
  const connected = await t.http.put(`/api/accounts/${accountId}/stripe`).set(auth).send({ secretKey, webhookSecret });
  assert.equal(connected.status, 200, JSON.stringify(connected.body));
  return {
    accountId,
    stripeAccountId: stripeAccount.id,
    secretKey,
    webhookSecret,
    async deliver(event) {
      const payload = JSON.stringify(event);
      const res = await t.http.post(`/webhooks/stripe/${accountId}`).set(signedDelivery(payload, webhookSecret).headers).send(payload);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return { duplicate: res.body.duplicate as boolean };
    },
    settled: (eventId) => settledIn(t, eventId, accountId),
    async invoice(amountDue = 1000, currency = 'usd') {
      const res = await t.http
        .post('/api/invoices')
        .set(auth)
        .send({ number: `T-${tag}-${randomBytes(4).toString('hex')}`, currency, amountDue, customer: { name, email: 'billing@example.com' }, accountId });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body.id as string;
    },
  };
}

/** Waits until the copy of the event delivered for `accountId` (null: the default endpoint) is settled. */
export function settledIn(t: TestService, eventId: string, accountId: string | null, timeoutMs = 15_000): Promise<SettledEvent> {
  return waitFor(
    `event ${eventId} of ${accountId ?? 'the default account'} to be settled`,
    async () => {
      const [row] = await t.query<SettledEvent>('SELECT status, reason, attempts, last_error FROM stripe_events WHERE id = ? AND account_id <=> ?', [
        eventId,
        accountId,
      ]);
      return row && row.status !== 'received' ? row : undefined;
    },
    timeoutMs,
    10,
  );
}
