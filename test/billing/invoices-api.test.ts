import assert from 'node:assert/strict';
import { startTestService, type TestService } from '../helpers/test-service.js';
import { auth, createInvoice } from '../helpers/billing-client.js';

describe('invoices API', () => {
  let t: TestService;
  before(async () => {
    t = await startTestService();
  });
  after(() => t.stop());

  const valid = () => ({
    number: `API-${Date.now()}-${Math.random()}`,
    currency: 'usd',
    amountDue: 12_345,
    customer: { name: 'Grace Hopper', email: 'grace@example.com' },
  });

  it('creates an invoice: 201 with its id, open, nothing paid yet', async () => {
    const body = valid();
    const res = await t.http.post('/api/invoices').set(auth).send(body);
    assert.equal(res.status, 201);
    assert.match(res.body.id, /^inv_[0-9a-f]{24}$/);
    assert.equal(res.body.number, body.number);
    assert.equal(res.body.accountId, null);
    assert.equal(res.body.currency, 'usd');
    assert.equal(res.body.amountDue, 12_345);
    assert.equal(res.body.amountPaid, 0);
    assert.equal(res.body.amountRefunded, 0);
    assert.equal(res.body.status, 'open');
    assert.deepEqual(res.body.payments, []);
    assert.deepEqual(res.body.refunds, []);
    assert.deepEqual(res.body.disputes, []);
    assert.deepEqual(res.body.payouts, []);
  });

  it('keeps a zero-decimal currency exact: 5000 JPY is 5000, not 50.00', async () => {
    const res = await t.http.post('/api/invoices').set(auth).send({ ...valid(), currency: 'JPY', amountDue: 5000 });
    assert.equal(res.status, 201);
    assert.equal(res.body.currency, 'jpy');
    assert.equal(res.body.amountDue, 5000);
  });

  const bad: [string, (b: ReturnType<typeof valid>) => unknown, string][] = [
    ['a missing number', ({ number: _n, ...rest }) => rest, 'invalid_number'],
    ['a blank number', (b) => ({ ...b, number: '   ' }), 'invalid_number'],
    ['a negative amount', (b) => ({ ...b, amountDue: -100 }), 'invalid_amount_due'],
    ['a fractional amount (dollars instead of cents)', (b) => ({ ...b, amountDue: 10.5 }), 'invalid_amount_due'],
    ['an amount given as a string', (b) => ({ ...b, amountDue: '1000' }), 'invalid_amount_due'],
    ['an unknown currency code', (b) => ({ ...b, currency: 'usx' }), 'invalid_currency'],
    ['a customer without an email', (b) => ({ ...b, customer: { name: 'X' } }), 'invalid_customer_email'],
    ['a malformed email', (b) => ({ ...b, customer: { name: 'X', email: 'not-an-email' } }), 'invalid_customer_email'],
    ['an account that does not exist', (b) => ({ ...b, accountId: 'acct_nope' }), 'account_not_found'],
  ];
  for (const [name, mutate, code] of bad) {
    it(`rejects ${name} with 400 ${code}`, async () => {
      const before = (await t.query<{ n: number }>('SELECT COUNT(*) AS n FROM invoices'))[0]!.n;
      const res = await t.http.post('/api/invoices').set(auth).send(mutate(valid()) as object);
      assert.equal(res.status, 400);
      assert.equal(res.body.error.code, code);
      assert.ok(res.body.error.message.length > 20);
      assert.equal((await t.query<{ n: number }>('SELECT COUNT(*) AS n FROM invoices'))[0]!.n, before);
    });
  }

  it('rejects a duplicate number with 400 number_taken', async () => {
    const body = valid();
    await t.http.post('/api/invoices').set(auth).send(body).expect(201);
    const res = await t.http.post('/api/invoices').set(auth).send(body);
    assert.equal(res.status, 400);
    assert.equal(res.body.error.code, 'number_taken');
  });

  it('answers 404 invoice_not_found for an unknown id', async () => {
    const res = await t.http.get('/api/invoices/inv_000000000000000000000000').set(auth);
    assert.equal(res.status, 404);
    assert.equal(res.body.error.code, 'invoice_not_found');
  });

  it('answers 401 without a token', async () => {
    assert.equal((await t.http.get('/api/invoices')).status, 401);
    assert.equal((await t.http.post('/api/invoices').send(valid())).status, 401);
  });

  it('lists newest first, pages with a cursor, and filters by status and date', async () => {
    const created = [];
    for (let i = 0; i < 5; i++) created.push(await createInvoice(t));
    const ids = created.map((i) => i.id).reverse();

    const first = await t.http.get('/api/invoices?limit=3').set(auth);
    assert.equal(first.status, 200);
    assert.deepEqual(first.body.data.map((i: { id: string }) => i.id), ids.slice(0, 3));
    assert.ok(first.body.nextCursor);
    const second = await t.http.get(`/api/invoices?limit=2&cursor=${first.body.nextCursor}`).set(auth);
    assert.deepEqual(second.body.data.map((i: { id: string }) => i.id), ids.slice(3, 5));

    const open = await t.http.get('/api/invoices?status=open&limit=200').set(auth);
    assert.ok(open.body.data.every((i: { status: string }) => i.status === 'open'));
    const paid = await t.http.get('/api/invoices?status=paid').set(auth);
    assert.ok(paid.body.data.every((i: { status: string }) => i.status === 'paid'));

    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    const future = await t.http.get(`/api/invoices?from=${tomorrow}`).set(auth);
    assert.deepEqual(future.body.data, []);
    const today = await t.http.get(`/api/invoices?to=${new Date().toISOString().slice(0, 10)}&limit=200`).set(auth);
    assert.ok(today.body.data.some((i: { id: string }) => i.id === ids[0]));
  });

  it('rejects a bad filter with a code naming the parameter', async () => {
    const res = await t.http.get('/api/invoices?status=settled').set(auth);
    assert.equal(res.status, 400);
    assert.equal(res.body.error.code, 'invalid_status');
    assert.equal((await t.http.get('/api/invoices?limit=0').set(auth)).body.error.code, 'invalid_limit');
  });
});
