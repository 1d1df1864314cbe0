import assert from 'node:assert/strict';
import { startTestService, type TestService } from './helpers/test-service.js';
import { signedDelivery, stripeEvent, TEST_WEBHOOK_SECRET, uniqueId } from './helpers/stripe-events.js';
import { waitFor } from './helpers/wait-for.js';

describe('POST /webhooks/stripe', () => {
  let t: TestService;
  before(async () => {
    t = await startTestService({ STRIPE_WEBHOOK_SECRET: `${TEST_WEBHOOK_SECRET},whsec_rolled_secret_abcdef` });
  });
  after(() => t.stop());

  const countRows = async (id: string) =>
    (await t.query<{ n: number }>('SELECT COUNT(*) AS n FROM stripe_events WHERE id = ?', [id]))[0]!.n;

  const post = (payload: string | Buffer, headers: Record<string, string>) =>
    t.http.post('/webhooks/stripe').set(headers).send(payload);

  it('stores a signed event exactly as received, queues it, and answers 200 duplicate:false', async () => {
    const event = stripeEvent({ type: 'charge.succeeded', resource: 'charge' });
    const payload = JSON.stringify(event, null, 2);
    const { headers } = signedDelivery(payload);
    const res = await post(payload, headers);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { received: true, duplicate: false });

    const [row] = await t.query<{ payload: string; type: string; status: string; object_id: string; livemode: number }>(
      'SELECT payload, type, status, object_id, livemode FROM stripe_events WHERE id = ?',
      [event.id],
    );
    assert.equal(row!.payload, payload, 'the raw bytes are kept, formatting included');
    assert.equal(row!.type, 'charge.succeeded');
    assert.equal(row!.object_id, (event.data.object as { id: string }).id);
    assert.equal(row!.livemode, 0);
    const job = await t.queue.getJob(event.id);
    assert.ok(job, 'a job whose id is the event id');
    assert.deepEqual(job.data, { eventId: event.id, accountId: null });
  });

  it('answers a redelivery with duplicate:true and changes nothing', async () => {
    const event = stripeEvent({ type: 'payment_intent.succeeded', resource: 'payment_intent' });
    const payload = JSON.stringify(event);
    assert.equal((await post(payload, signedDelivery(payload).headers)).body.duplicate, false);
    await waitFor('the first delivery to be settled', async () => {
      const [row] = await t.query<{ status: string }>('SELECT status FROM stripe_events WHERE id = ?', [event.id]);
      return row?.status === 'processed';
    });
    const res = await post(payload, signedDelivery(payload).headers);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { received: true, duplicate: true });
    assert.equal(await countRows(event.id), 1);
    const [row] = await t.query<{ attempts: number; status: string }>('SELECT attempts, status FROM stripe_events WHERE id = ?', [event.id]);
    assert.deepEqual({ ...row }, { attempts: 1, status: 'processed' }, 'processed once, not again');
  });

  it('accepts a signature made with the second secret while a secret is rolled', async () => {
    const event = stripeEvent({ type: 'charge.succeeded', resource: 'charge' });
    const payload = JSON.stringify(event);
    const res = await post(payload, signedDelivery(payload, 'whsec_rolled_secret_abcdef').headers);
    assert.equal(res.status, 200);
    assert.equal(await countRows(event.id), 1);
  });

  it('stores one row and enqueues one job when ten deliveries of one event arrive at once', async () => {
    const event = stripeEvent({ type: 'charge.refunded', resource: 'charge' });
    const payload = JSON.stringify(event);
    const responses = await Promise.all(
      Array.from({ length: 10 }, () => post(payload, signedDelivery(payload).headers)),
    );
    assert.deepEqual(responses.map((r) => r.status), Array(10).fill(200));
    assert.equal(responses.filter((r) => r.body.duplicate === false).length, 1, 'exactly one is the first delivery');
    assert.equal(await countRows(event.id), 1);
    const jobs = await t.queue.getJobs(['waiting', 'active', 'completed', 'delayed', 'failed']);
    assert.equal(jobs.filter((job) => job.data.eventId === event.id).length, 1);
  });

  describe('rejects bad deliveries with a stable code and stores nothing', () => {
    const event = () => stripeEvent({ type: 'charge.succeeded', resource: 'charge', id: uniqueId('evt') });
    const cases: { name: string; status: number; code: string; build: () => { id: string; payload: string | Buffer; headers: Record<string, string> } }[] = [
      {
        name: 'no Stripe-Signature header',
        status: 400,
        code: 'signature_invalid',
        build: () => {
          const e = event();
          return { id: e.id, payload: JSON.stringify(e), headers: { 'content-type': 'application/json' } };
        },
      },
      {
        name: 'a header that is not a Stripe signature',
        status: 400,
        code: 'signature_invalid',
        build: () => {
          const e = event();
          return { id: e.id, payload: JSON.stringify(e), headers: { 'content-type': 'application/json', 'stripe-signature': 'garbage' } };
        },
      },
      {
        name: 'a signature made with another secret',
        status: 400,
        code: 'signature_invalid',
        build: () => {
          const e = event();
          const payload = JSON.stringify(e);
          return { id: e.id, payload, headers: signedDelivery(payload, 'whsec_someone_else').headers };
        },
      },
      {
        name: 'a body changed after signing (re-serialised JSON)',
        status: 400,
        code: 'signature_invalid',
        build: () => {
          const e = event();
          const payload = JSON.stringify(e);
          return { id: e.id, payload: JSON.stringify(e, null, 1), headers: signedDelivery(payload).headers };
        },
      },
      {
        name: 'a timestamp older than 300 s (a replayed delivery)',
        status: 400,
        code: 'signature_invalid',
        build: () => {
          const e = event();
          const payload = JSON.stringify(e);
          return { id: e.id, payload, headers: signedDelivery(payload, TEST_WEBHOOK_SECRET, Math.floor(Date.now() / 1000) - 301).headers };
        },
      },
      {
        name: 'a signed body that is not JSON',
        status: 400,
        code: 'payload_invalid',
        build: () => ({ id: 'evt_none', payload: 'id=evt_1&type=charge.succeeded', headers: signedDelivery('id=evt_1&type=charge.succeeded').headers }),
      },
      {
        name: 'signed JSON that is not a Stripe event',
        status: 400,
        code: 'payload_invalid',
        build: () => {
          const payload = JSON.stringify({ id: 'evt_not_really', hello: 'world' });
          return { id: 'evt_not_really', payload, headers: signedDelivery(payload).headers };
        },
      },
      {
        name: 'an event id that cannot be a queue job id',
        status: 400,
        code: 'payload_invalid',
        build: () => {
          const e = { ...event(), id: 'evt_a:b' };
          const payload = JSON.stringify(e);
          return { id: e.id, payload, headers: signedDelivery(payload).headers };
        },
      },
      {
        name: 'a body over 1 MB',
        status: 413,
        code: 'payload_too_large',
        build: () => {
          const e = event();
          (e.data.object as unknown as Record<string, unknown>).description = 'x'.repeat(1024 * 1024);
          const payload = JSON.stringify(e);
          return { id: e.id, payload, headers: signedDelivery(payload).headers };
        },
      },
    ];

    for (const c of cases) {
      it(`${c.name} → ${c.status} ${c.code}`, async () => {
        const before = (await t.query<{ n: number }>('SELECT COUNT(*) AS n FROM stripe_events'))[0]!.n;
        const { id, payload, headers } = c.build();
        const res = await post(payload, headers);
        assert.equal(res.status, c.status);
        assert.equal(res.body.error.code, c.code);
        assert.ok(res.body.error.message.length > 40, 'a message that says what to do');
        assert.equal(await countRows(id), 0);
        assert.equal((await t.query<{ n: number }>('SELECT COUNT(*) AS n FROM stripe_events'))[0]!.n, before);
      });
    }
  });

  it('answers 404 account_not_found for a merchant account that does not exist', async () => {
    const e = stripeEvent({ type: 'charge.succeeded', resource: 'charge' });
    const payload = JSON.stringify(e);
    const res = await t.http.post('/webhooks/stripe/acct_missing').set(signedDelivery(payload).headers).send(payload);
    assert.equal(res.status, 404);
    assert.equal(res.body.error.code, 'account_not_found');
    assert.equal(await countRows(e.id), 0);
  });
});

describe('POST /webhooks/stripe without STRIPE_WEBHOOK_SECRET', () => {
  it('answers 503 webhook_not_configured, so Stripe keeps the event and retries', async () => {
    const t = await startTestService({ STRIPE_WEBHOOK_SECRET: '' });
    try {
      const e = stripeEvent({ type: 'charge.succeeded', resource: 'charge' });
      const payload = JSON.stringify(e);
      const res = await t.http.post('/webhooks/stripe').set(signedDelivery(payload).headers).send(payload);
      assert.equal(res.status, 503);
      assert.equal(res.body.error.code, 'webhook_not_configured');
      assert.match(res.body.error.message, /STRIPE_WEBHOOK_SECRET/);
    } finally {
      await t.stop();
    }
  });
});
