import assert from 'node:assert/strict';
import { auth, type SettledEvent } from './billing-client.js';
import type { DeliveryOptions, FakeApp, FakePaypal } from './fake-paypal.js';
import { settledIn } from './merchants.js';
import type { TestService } from './test-service.js';

/** A merchant account with PayPal connected through the fake: its webhook id signs its deliveries. */
export interface PaypalMerchant {
  accountId: string;
  app: FakeApp;
  webhookId: string;
  /** POST /webhooks/paypal/:accountId, signed by the fake PayPal for this account's webhook; the answer as PayPal sees it. */
  post(event: unknown, options?: DeliveryOptions & { webhookId?: string; accountId?: string; body?: string }): Promise<{ status: number; body: { received?: boolean; duplicate?: boolean; error?: { code: string; message: string } } }>;
  /** Posts, expects 200, and waits for the worker to settle the event. */
  deliver(event: { id: unknown }): Promise<SettledEvent & { duplicate: boolean }>;
  settled(eventId: string): Promise<SettledEvent>;
}

/** Connects a fresh sandbox app of the fake PayPal to `accountId` (the service needs PAYPAL_API_BASE and PUBLIC_BASE_URL). */
export async function connectPaypal(t: TestService, fake: FakePaypal, accountId: string, mode: 'sandbox' | 'live' = 'sandbox'): Promise<PaypalMerchant> {
  const app = fake.addApp({ mode });
  const res = await t.http.put(`/api/accounts/${accountId}/paypal`).set(auth).send({ clientId: app.clientId, clientSecret: app.clientSecret, mode });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  const webhookId = res.body.webhookId as string;
  assert.ok(webhookId, 'the connection made a webhook');
  const post: PaypalMerchant['post'] = async (event, options = {}) => {
    const delivery = fake.deliver(options.webhookId ?? webhookId, event, options);
    const answer = await t.http
      .post(`/webhooks/paypal/${options.accountId ?? accountId}`)
      .set(delivery.headers)
      .send(options.body ?? delivery.body);
    return { status: answer.status, body: answer.body };
  };
  const settled = (eventId: string) => settledIn(t, eventId, accountId);
  return {
    accountId,
    app,
    webhookId,
    post,
    settled,
    async deliver(event) {
      const res = await post(event);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return { ...(await settled(String(event.id))), duplicate: Boolean(res.body.duplicate) };
    },
  };
}
