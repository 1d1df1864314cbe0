import assert from 'node:assert/strict';
import { CheckoutPaymentIntent, OrdersController, PaymentsController, type ApiResponse } from '@paypal/paypal-server-sdk';
import { startFakePaypal, type FakeApp, type FakePaypal } from '../helpers/fake-paypal.js';
import { createPaypalSdkClient, PaypalApiError, requestAccessToken, sdkError } from '../../src/paypal/paypal-client.js';
import { readCapture, readOrder, readRefund } from '../../src/paypal/objects/paypal-objects.js';
import { toPaypalValue } from '../../src/paypal/amounts.js';

const INVOICE = 'inv_0123456789abcdef01234567';
const context = { eventId: 'WH-API', eventType: 'PAYMENT.CAPTURE.COMPLETED' };
/** The raw JSON behind an SDK answer: what the readers read, as they read a webhook's resource. */
const raw = (response: ApiResponse<unknown>) => JSON.parse(response.body as string) as unknown;

/**
 * The fake PayPal as phase 2 will use it: PayPal's official SDK reaching it (orders, captures,
 * refunds) through src/paypal/paypal-client.ts, PayPal-Request-Id honoured, PayPal's refusals.
 */
describe('the fake PayPal, through PayPal\'s server SDK', () => {
  let fake: FakePaypal;
  let app: FakeApp;
  const orders = (a = app) => new OrdersController(createPaypalSdkClient(a, a.mode, { apiBase: fake.url }));
  const payments = (a = app) => new PaymentsController(createPaypalSdkClient(a, a.mode, { apiBase: fake.url }));
  const order = (value: string, currency = 'USD', requestId?: string) =>
    orders().createOrder({
      ...(requestId && { paypalRequestId: requestId }),
      body: { intent: CheckoutPaymentIntent.Capture, purchaseUnits: [{ amount: { currencyCode: currency, value }, customId: INVOICE, invoiceId: 'A-1001' }] },
    });
  const failure = async (promise: Promise<unknown>) => {
    try {
      await promise;
    } catch (error) {
      return sdkError(error);
    }
    assert.fail('PayPal accepted it');
  };

  before(async () => {
    fake = await startFakePaypal();
    app = fake.addApp({ mode: 'sandbox' });
  });
  after(() => fake.stop());

  it('creates an order once per PayPal-Request-Id, as PayPal does', async () => {
    const first = await order('25.00', 'USD', 'invoice-inv_1-attempt-1');
    const again = await order('25.00', 'USD', 'invoice-inv_1-attempt-1');
    const other = await order('25.00', 'USD', 'invoice-inv_1-attempt-2');
    assert.equal(first.statusCode, 201);
    assert.equal(again.result.id, first.result.id);
    assert.notEqual(other.result.id, first.result.id);
    assert.deepEqual(pick(readOrder(raw(first), context)), { status: 'CREATED', amount: 2500, currency: 'usd', invoiceId: INVOICE, captureId: null });
    assert.equal(fake.requests.filter((r) => r.path === '/v2/checkout/orders').at(-1)?.host, 'api-m.sandbox.paypal.com');
  });

  it('captures an approved order once per PayPal-Request-Id, with PayPal\'s fee and net', async () => {
    const created = await order('100.00');
    const id = created.result.id!;
    assert.equal((await failure(orders().captureOrder({ id, paypalRequestId: 'capture-1' }))).paypalName, 'UNPROCESSABLE_ENTITY');
    fake.orders.approve(id);
    const captured = await orders().captureOrder({ id, paypalRequestId: 'capture-2' });
    const again = await orders().captureOrder({ id, paypalRequestId: 'capture-2' });
    assert.equal(captured.result.status, 'COMPLETED');
    assert.equal(again.body, captured.body);
    const view = readOrder(raw(captured), context);
    assert.ok(view.captureId);
    // 3.49% + 0.49 of 100.00.
    const capture = readCapture(raw(await payments().getCapturedPayment({ captureId: view.captureId! })), context);
    assert.deepEqual(pick(capture, ['status', 'amount', 'fee', 'net', 'orderId', 'invoiceId']), { status: 'COMPLETED', amount: 10000, fee: 398, net: 9602, orderId: id, invoiceId: INVOICE });
    const second = await failure(orders().captureOrder({ id, paypalRequestId: 'capture-3' }));
    assert.deepEqual([second.status, second.paypalName], [422, 'UNPROCESSABLE_ENTITY']);
  });

  it('refunds a capture (the merchant in PayPal) and answers the refund', async () => {
    const id = (await order('40.00')).result.id!;
    fake.orders.approve(id);
    const captureId = readOrder(raw(await orders().captureOrder({ id })), context).captureId!;
    const refund = fake.orders.refund(captureId, '10.00');
    const view = readRefund(raw(await payments().getRefund({ refundId: refund.id as string })), context);
    assert.deepEqual(pick(view, ['amount', 'captureId', 'invoiceId', 'status']), { amount: 1000, captureId, invoiceId: INVOICE, status: 'COMPLETED' });
    assert.equal(readCapture(raw(await payments().getCapturedPayment({ captureId })), context).status, 'PARTIALLY_REFUNDED');
  });

  it('takes yen in whole units only, as PayPal; toPaypalValue writes them so', async () => {
    const refused = await failure(order('1500.50', 'JPY'));
    assert.deepEqual([refused.status, refused.paypalName], [422, 'UNPROCESSABLE_ENTITY']);
    assert.equal((await order(toPaypalValue(1500, 'jpy'), 'JPY')).statusCode, 201);
    assert.equal((await order(toPaypalValue(150000, 'huf'), 'HUF')).result.purchaseUnits![0]!.amount!.value, '1500');
  });

  it('keeps each app\'s orders to itself, and refuses a token PayPal did not issue', async () => {
    const id = (await order('5.00')).result.id!;
    const stranger = fake.addApp({ mode: 'sandbox' });
    assert.equal((await failure(orders(stranger).getOrder({ id }))).status, 404);
    await assert.rejects(requestAccessToken({ clientId: app.clientId, clientSecret: 'Ewrong0123456789abcdef' }, 'sandbox', { apiBase: fake.url }), (error: unknown) => {
      assert.ok(error instanceof PaypalApiError);
      assert.deepEqual([error.status, error.paypalName], [401, 'invalid_client']);
      return true;
    });
  });
});

function pick<T extends object>(view: T, keys: (keyof T)[] = ['status', 'amount', 'currency', 'invoiceId', 'captureId'] as (keyof T)[]) {
  return Object.fromEntries(keys.map((key) => [key, view[key]]));
}
