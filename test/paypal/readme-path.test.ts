import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startTestService, TEST_ADMIN_TOKEN, type TestService } from '../helpers/test-service.js';
import { startFakePaypal, type FakePaypal } from '../helpers/fake-paypal.js';
import { auth } from '../helpers/billing-client.js';
import { paypalEvent } from '../helpers/paypal-events.js';
import { settledIn } from '../helpers/merchants.js';
import { waitFor } from '../helpers/wait-for.js';

const README = fileURLToPath(new URL('../../README.md', import.meta.url));
const PUBLIC_BASE_URL = 'https://billing.example.test';

/** The README's PayPal section: its shell block, as a new user pastes it. */
function readmeBlock(): string {
  const readme = readFileSync(README, 'utf8');
  const section = readme.slice(readme.indexOf('## PayPal\n'));
  const block = /```sh\n([\s\S]*?)```/.exec(section.slice(0, section.indexOf('\n## ', 1)));
  assert.ok(block, 'the README\'s PayPal section has a shell block');
  return block[1]!;
}

function bash(script: string, env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('bash', ['-euo', 'pipefail', '-c', script], { env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

/**
 * A new user's path through the README's PayPal section: its command connects a merchant's
 * PayPal app; then, as it says, the account's pay links offer PayPal, a client pays with it, and
 * the reconciliation shows the payment's gateway and PayPal's totals.
 */
describe('the README\'s PayPal path, as a new user follows it', function () {
  this.timeout(60_000);
  let fake: FakePaypal;
  let t: TestService;

  before(async () => {
    fake = await startFakePaypal();
    t = await startTestService({ PAYPAL_API_BASE: fake.url, PUBLIC_BASE_URL });
  });
  after(async () => {
    await t?.stop();
    await fake?.stop();
  });

  it('connects PayPal with the README\'s command, then a client pays an invoice with PayPal and the accountant sees it reconciled', async () => {
    const account = (await t.http.post('/api/accounts').set(auth).send({ name: 'Readme Plumbing' }).expect(201)).body.id as string;
    const app = fake.addApp({ mode: 'sandbox' });
    const script = readmeBlock().replaceAll('localhost:3000', new URL(t.baseUrl).host);
    const run = await bash(script, { ACCOUNT: account, ADMIN_TOKEN: TEST_ADMIN_TOKEN, PAYPAL_CLIENT_ID: app.clientId, PAYPAL_CLIENT_SECRET: app.clientSecret });
    assert.equal(run.code, 0, run.stderr);
    const connected = JSON.parse(run.stdout) as { mode: string; clientId: string; webhookId: string; webhookUrl: string };
    assert.deepEqual([connected.mode, connected.clientId, connected.webhookUrl], ['sandbox', app.clientId, `${PUBLIC_BASE_URL}/webhooks/paypal/${account}`]);
    assert.ok([...fake.webhooks.values()].some((webhook) => webhook.id === connected.webhookId && webhook.clientId === app.clientId), 'the webhook was made at PayPal');

    // "The account's pay links then offer PayPal beside the card".
    const invoice = (
      await t.http
        .post('/api/invoices')
        .set(auth)
        .send({ number: 'README-PP-1', currency: 'eur', amountDue: 12_000, customer: { name: 'Pat Payer', email: 'pat@example.com' }, accountId: account })
        .expect(201)
    ).body.id as string;
    const link = (await t.http.post(`/api/invoices/${invoice}/pay-link`).set(auth).send({}).expect(201)).body as { token: string };
    const page = (await t.http.get(`/pay/${link.token}`).expect(200)).body;
    assert.deepEqual(page.gateways.paypal, { clientId: app.clientId, mode: 'sandbox' });
    const order = (await t.http.post(`/pay/${link.token}/paypal`).expect(200)).body as { orderId: string; amount: number; currency: string };
    assert.deepEqual([order.amount, order.currency], [12_000, 'eur']);
    fake.orders.approve(order.orderId); // the client approves at PayPal
    const captured = (await t.http.post(`/pay/${link.token}/paypal/capture`).send({ orderId: order.orderId }).expect(200)).body as { status: string; captureId: string };
    assert.equal(captured.status, 'completed');

    // PayPal tells the service through the webhook the README's command made.
    const completed = paypalEvent('PAYMENT.CAPTURE.COMPLETED', fake.orders.captures.get(captured.captureId)!.value) as { id: string };
    const delivery = fake.deliver(connected.webhookId, completed);
    await t.http.post(`/webhooks/paypal/${account}`).set(delivery.headers).send(delivery.body).expect(200);
    await settledIn(t, completed.id, account);
    await waitFor('the invoice paid', async () => (await t.http.get(`/api/invoices/${invoice}`).set(auth)).body.status === 'paid');

    // "the reconciliation shows each payment's gateway and PayPal's totals beside Stripe's".
    const books = (await t.http.get('/api/reconciliation/invoices').set(auth).query({ currency: 'eur' }).expect(200)).body;
    const row = books.invoices.find((entry: { id: string }) => entry.id === invoice);
    assert.equal(row.reconciliation, 'reconciled');
    assert.deepEqual(row.gateways, ['paypal']);
    assert.deepEqual(row.payments.map((p: { id: string; gateway: string; settlement: string }) => [p.id, p.gateway, p.settlement]), [[captured.captureId, 'paypal', 'in_paypal_balance']]);
    const paypalTotals = books.totalsByGateway.find((total: { gateway: string; currency: string }) => total.gateway === 'paypal' && total.currency === 'eur');
    assert.ok(paypalTotals && paypalTotals.gross >= 12_000 && paypalTotals.fees > 0, JSON.stringify(books.totalsByGateway));
  });
});
