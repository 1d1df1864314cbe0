import assert from 'node:assert/strict';
import mysql from 'mysql2/promise';
import type { TestService } from '../helpers/test-service.js';
import { startFaultTestService } from '../helpers/fault-test-service.js';
import { dropDatabase, uniqueDatabaseUrl } from '../helpers/test-database.js';
import { signedDelivery, stripeEvent } from '../helpers/stripe-events.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { waitFor } from '../helpers/wait-for.js';

/** An unreachable MySQL must turn into a prompt 503 (Stripe then retries), never into a hung request. */
const ANSWER_WITHIN_MS = 5000;
/** Short, so the count line of the first test comes within it. */
const FAILURE_LOG_INTERVAL_MS = 1000;

describe('when MySQL is unreachable', function () {
  this.timeout(30_000);

  // The service reaches MySQL only through a proxy that the tests break; the tests
  // look at the database directly, past the proxy, as a DBA would.
  let proxy: TcpProxy;
  let t: TestService;
  let direct: mysql.Connection;
  let databaseUrl: string;

  before(async function () {
    this.timeout(30_000);
    databaseUrl = uniqueDatabaseUrl('outage');
    const mysqlServer = new URL(databaseUrl);
    proxy = await TcpProxy.start({ host: mysqlServer.hostname, port: Number(mysqlServer.port || 3306) });
    const throughProxy = new URL(databaseUrl);
    throughProxy.host = `127.0.0.1:${proxy.port}`;
    t = await startFaultTestService({ DATABASE_URL: throughProxy.toString(), FAILURE_LOG_INTERVAL_MS: String(FAILURE_LOG_INTERVAL_MS) });
    direct = await mysql.createConnection(databaseUrl);
  });

  // Every test leaves the network healthy, even when it fails half-way.
  afterEach(() => proxy.restore());

  after(async function () {
    this.timeout(30_000);
    try {
      // Restore first: closing the pool must not wait on connections the black hole holds.
      await proxy?.restore();
      t?.service.server?.closeAllConnections(); // a request a failed test left hanging
      await t?.stop();
    } finally {
      await direct?.end().catch(() => {});
      await proxy?.close();
      if (databaseUrl) await dropDatabase(databaseUrl);
    }
  });

  const signedEvent = () => {
    // A type the service subscribes to no handler for: it settles as ignored/unhandled_type,
    // whatever the billing handlers do, so the test is about storage and nothing else.
    const event = stripeEvent({ type: 'customer.created', resource: 'customer' });
    const payload = JSON.stringify(event);
    return { event, payload };
  };

  /** POSTs a freshly signed delivery of `payload` (Stripe signs every retry anew). */
  const deliver = async (payload: string) => {
    const startedAt = Date.now();
    const res = await t.http.post('/webhooks/stripe').set(signedDelivery(payload).headers).send(payload);
    return { res, elapsedMs: Date.now() - startedAt };
  };

  const assertStorageUnavailable = (res: { status: number; body: { error?: { code?: string } } }, elapsedMs: number) => {
    assert.notEqual(res.status, 200, 'never 200 for an event that was not stored');
    assert.equal(res.status, 503);
    assert.equal(res.body.error?.code, 'storage_unavailable');
    assert.ok(elapsedMs < ANSWER_WITHIN_MS, `answered in ${elapsedMs} ms, over ${ANSWER_WITHIN_MS} ms`);
  };

  const storedRows = async (id: string) => {
    const [rows] = await direct.query<mysql.RowDataPacket[]>('SELECT id, status, payload FROM stripe_events WHERE id = ?', [id]);
    return rows;
  };

  // First in the file: no earlier outage has opened a log interval for the same cause.
  it('logs the outage once per interval, not once per request: 50 deliveries, one line, then the count of the other 49', async () => {
    await proxy.refuse();
    const from = t.logs.length;
    const answers = await Promise.all(Array.from({ length: 50 }, () => deliver(signedEvent().payload)));
    for (const { res, elapsedMs } of answers) assertStorageUnavailable(res, elapsedMs);

    const lines = (message: string) =>
      t.logs
        .slice(from)
        .map((line) => JSON.parse(line) as { message: string; code?: string; error?: string; suppressed?: number })
        .filter((line) => line.message === message);
    const failed = lines('request failed');
    assert.deepEqual(failed.map((l) => [l.code, l.suppressed]), [['storage_unavailable', 0]]);
    // The inbox's own line names what MySQL did; each cause once (batches fail together, not per request).
    const inserts = lines('inbox insert failed');
    assert.ok(inserts.length >= 1);
    assert.equal(new Set(inserts.map((l) => l.error)).size, inserts.length, inserts.map((l) => l.error).join('\n'));
    const counted = await waitFor('the count line', () => lines('request failed')[1], FAILURE_LOG_INTERVAL_MS * 4);
    assert.deepEqual([counted.code, counted.suppressed], ['storage_unavailable', 49]);
  });

  it('answers 503 storage_unavailable within 5 s, never 200, while connections are refused', async () => {
    await proxy.refuse();
    const { event, payload } = signedEvent();
    // Stripe retries: each try during the outage gets the same answer.
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const { res, elapsedMs } = await deliver(payload);
      assertStorageUnavailable(res, elapsedMs);
    }
    assert.equal((await storedRows(event.id)).length, 0);
  });

  it('answers 503 storage_unavailable within 5 s while connections hang unanswered', async () => {
    await proxy.blackhole();
    const { event, payload } = signedEvent();
    const { res, elapsedMs } = await deliver(payload);
    assertStorageUnavailable(res, elapsedMs);
    assert.equal((await storedRows(event.id)).length, 0);
  });

  it('stores an event that got 503 during the outage when Stripe retries it after MySQL is back', async () => {
    const { event, payload } = signedEvent();
    await proxy.refuse();
    const refused = await deliver(payload);
    assertStorageUnavailable(refused.res, refused.elapsedMs);
    await proxy.blackhole();
    const blackholed = await deliver(payload);
    assertStorageUnavailable(blackholed.res, blackholed.elapsedMs);

    await proxy.restore();
    const { res } = await deliver(payload);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { received: true, duplicate: false }, 'the 503s stored nothing: this is the first delivery stored');
    const rows = await storedRows(event.id);
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.payload, payload);
    // And the pipeline behind the inbox works again too.
    await waitFor('the worker to settle the event', async () => (await storedRows(event.id))[0]?.status === 'ignored');
  });

  it('reports MySQL unreachable on /readyz while it is down, and ready once it is back', async () => {
    await proxy.refuse();
    const refused = await t.http.get('/readyz');
    assert.equal(refused.status, 503);
    assert.deepEqual(refused.body, { status: 'not_ready', mysql: 'unreachable', redis: 'ok' });

    await proxy.blackhole();
    const startedAt = Date.now();
    const blackholed = await t.http.get('/readyz');
    assert.equal(blackholed.status, 503);
    assert.equal(blackholed.body.mysql, 'unreachable');
    assert.ok(Date.now() - startedAt < ANSWER_WITHIN_MS, 'a hanging MySQL does not hang the probe');

    await proxy.restore();
    const restored = await t.http.get('/readyz');
    assert.equal(restored.status, 200);
    assert.deepEqual(restored.body, { status: 'ready', mysql: 'ok', redis: 'ok' });
  });
});
