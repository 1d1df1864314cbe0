import assert from 'node:assert/strict';
import Stripe from 'stripe';
import { startTestService, type TestService } from '../helpers/test-service.js';
import { auth, createInvoice, deliver, getInvoice, settled } from '../helpers/billing-client.js';
import { startFakeStripe } from '../helpers/fake-stripe.js';
import { stripeEvent, uniqueId } from '../helpers/stripe-events.js';
import { buildCharge, buildPaymentIntent } from '../helpers/stripe-objects.js';
import { connectMerchant } from '../helpers/merchants.js';

/** An event rendered in a version older than the oldest the service reads: its object in that version's shape (no amount_captured, say). */
function outdatedChargeEvent(chargeId: string, paymentIntentId: string, invoiceId: string): Stripe.Event {
  const event = stripeEvent({
    type: 'charge.succeeded',
    resource: 'charge',
    object: { id: chargeId, payment_intent: paymentIntentId, amount: 1000, amount_captured: 1000, metadata: { invoice_id: invoiceId } },
  });
  (event as { api_version: string }).api_version = '2019-12-03';
  return event;
}

describe('events older than the supported API versions', () => {
  describe('without an API key for the account', () => {
    let t: TestService;
    before(async () => {
      t = await startTestService({ STRIPE_SECRET_KEY: '' });
    });
    after(() => t.stop());

    it('fail at once as unsupported_api_version, saying how to fix the endpoint; the version is stored and shown', async () => {
      const invoice = await createInvoice(t);
      const event = outdatedChargeEvent(uniqueId('ch'), uniqueId('pi'), invoice.id);
      await deliver(t, event);
      const outcome = await settled(t, event.id);
      assert.deepEqual([outcome.status, outcome.reason, outcome.attempts], ['failed', 'unsupported_api_version', 1]);
      assert.match(outcome.last_error ?? '', /2019-12-03.*Stripe Dashboard > Developers > Webhooks > the endpoint > update its API version/);
      const detail = await t.http.get(`/api/ops/events/${event.id}`).set(auth);
      assert.equal(detail.body.apiVersion, '2019-12-03');
      const list = await t.http.get('/api/ops/events').query({ q: event.id }).set(auth);
      assert.equal(list.body.data.find((row: { id: string }) => row.id === event.id)?.apiVersion, '2019-12-03');
      assert.equal((await getInvoice(t, invoice.id)).status, 'open');
    });
  });

  describe('with the default account key (STRIPE_SECRET_KEY)', () => {
    const KEY = 'sk_test_outdated0versions0key000001';
    let fake: Awaited<ReturnType<typeof startFakeStripe>>;
    let t: TestService;
    before(async () => {
      fake = await startFakeStripe();
      fake.addAccount({ keys: [KEY] });
      t = await startTestService({ STRIPE_SECRET_KEY: KEY, STRIPE_API_BASE: fake.url });
    });
    after(async () => {
      await t.stop();
      await fake.stop();
    });

    it('fetch the object from Stripe in the pinned version and apply that', async () => {
      const invoice = await createInvoice(t, { amountDue: 1000 });
      const chargeId = uniqueId('ch');
      const paymentIntentId = uniqueId('pi');
      fake.objects.set(chargeId, buildCharge({ id: chargeId, payment_intent: paymentIntentId, amount: 1000, amount_captured: 1000, metadata: { invoice_id: invoice.id } }));
      const event = outdatedChargeEvent(chargeId, paymentIntentId, invoice.id);
      // What the old payload says is not what is applied: the object as Stripe serves it now is.
      delete (event.data.object as unknown as Record<string, unknown>).amount;
      await deliver(t, event);
      const outcome = await settled(t, event.id);
      assert.equal(outcome.status, 'processed', JSON.stringify(outcome));
      const fetched = fake.requests.filter((request) => request.path === `/v1/charges/${chargeId}`);
      assert.deepEqual(
        fetched.map((request) => [request.method, request.apiKey]),
        [['GET', KEY]],
      );
      const after = await getInvoice(t, invoice.id);
      assert.deepEqual([after.status, after.amountPaid], ['paid', 1000]);
    });

    it("a merchant account's event is fetched with the merchant's stored key", async () => {
      const merchant = await connectMerchant(t, fake, 'Old Endpoint Ltd');
      const invoiceId = await merchant.invoice(1000);
      const paymentIntentId = uniqueId('pi');
      fake.objects.set(
        paymentIntentId,
        buildPaymentIntent({ id: paymentIntentId, amount: 1000, amount_received: 1000, status: 'succeeded', metadata: { invoice_id: invoiceId } }),
      );
      const event = stripeEvent({ type: 'payment_intent.succeeded', resource: 'payment_intent', object: { id: paymentIntentId, amount: 1000 } });
      (event as { api_version: string }).api_version = '2017-08-15';
      await merchant.deliver(event);
      const outcome = await merchant.settled(event.id);
      assert.equal(outcome.status, 'processed', JSON.stringify(outcome));
      const fetched = fake.requests.filter((request) => request.path === `/v1/payment_intents/${paymentIntentId}`);
      assert.deepEqual(
        fetched.map((request) => request.apiKey),
        [merchant.secretKey],
      );
      assert.equal((await getInvoice(t, invoiceId)).status, 'paid');
    });

    it('an event in a supported version is applied as delivered, without asking Stripe', async () => {
      const invoice = await createInvoice(t, { amountDue: 1000 });
      const chargeId = uniqueId('ch');
      const event = outdatedChargeEvent(chargeId, uniqueId('pi'), invoice.id);
      (event as { api_version: string }).api_version = '2020-08-27';
      await deliver(t, event);
      assert.equal((await settled(t, event.id)).status, 'processed');
      assert.equal(fake.requests.filter((request) => request.path.includes(chargeId)).length, 0);
      assert.equal((await getInvoice(t, invoice.id)).status, 'paid');
    });
  });
});
