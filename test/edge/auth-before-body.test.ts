import assert from 'node:assert/strict';
import http from 'node:http';
import { startTestService, type TestService } from '../helpers/test-service.js';

/**
 * Issue 18: /api parsed a JSON body before any router looked at the token, so a
 * 100 KB body sent with no token cost about 45× the CPU of an empty request to
 * be told 401. The token is now checked first: a 401 costs what an empty request
 * costs, whatever body comes with it.
 */

/** 100 KB of JSON (within /api's 100 kB limit) that is costly to parse and walk: thousands of small objects. */
const BIG_BODY = (() => {
  const items: string[] = [];
  let size = 2;
  for (let i = 0; size + 20 < 100_000; i += 1) {
    const item = JSON.stringify({ n: i, s: 'x' });
    items.push(item);
    size += item.length + 1;
  }
  return Buffer.from(`[${items.join(',')}]`.padEnd(100_000, ' '));
})();

describe('the API edge: the token is checked before the body is read', function () {
  this.timeout(120_000);
  let t: TestService;
  // One keep-alive connection for every request of both kinds: connection handling is the same both ways.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

  before(async () => {
    // The API side alone, the relay all but idle: the process's CPU is the requests'.
    t = await startTestService({ ROLE: 'api', RELAY_INTERVAL_MS: '600000' });
  });
  after(async () => {
    agent.destroy();
    await t.stop();
  });

  const post = (body: Buffer | undefined) =>
    new Promise<number>((resolve, reject) => {
      const url = new URL(t.baseUrl);
      const req = http.request(
        {
          host: url.hostname,
          port: url.port,
          method: 'POST',
          path: '/api/tokens',
          agent,
          headers: { 'content-type': 'application/json', 'content-length': String(body?.length ?? 0) },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });

  /** CPU time (user + system) of this process while `count` requests run one after another; every one must get 401. */
  const cpuOf = async (count: number, body: Buffer | undefined): Promise<number> => {
    const start = process.cpuUsage();
    for (let i = 0; i < count; i += 1) {
      const status = await post(body);
      if (status !== 401) assert.fail(`expected 401 without a token, got ${status}`);
    }
    const used = process.cpuUsage(start);
    return used.user + used.system;
  };

  it('a 100 KB body without a token gets 401 for at most twice the CPU of an empty request (1,000 of each)', async () => {
    // Warm-up: JIT, the connection, the error path.
    await cpuOf(100, BIG_BODY);
    await cpuOf(100, undefined);
    // Alternating rounds: load from the rest of the machine falls on both kinds alike.
    let big = 0;
    let empty = 0;
    for (let round = 0; round < 5; round += 1) {
      big += await cpuOf(200, BIG_BODY);
      empty += await cpuOf(200, undefined);
    }
    const ratio = big / empty;
    const perRequest = (us: number) => `${(us / 1000 / 1000).toFixed(3)} ms`;
    assert.ok(ratio <= 2, `100 KB without a token: ${perRequest(big)} CPU per 401, empty: ${perRequest(empty)} (${ratio.toFixed(2)}×, at most 2× allowed)`);
  });

  it('the same 100 KB body with a token is still read: an unknown token gets 401, an admin gets a 400 naming the body', async () => {
    const url = new URL(t.baseUrl);
    const send = (authorization: string) =>
      new Promise<{ status: number; body: { error?: { code?: string } } }>((resolve, reject) => {
        const req = http.request(
          { host: url.hostname, port: url.port, method: 'POST', path: '/api/tokens', agent, headers: { authorization, 'content-type': 'application/json' } },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as never }));
          },
        );
        req.on('error', reject);
        req.end(BIG_BODY);
      });
    const unknown = await send('Bearer bld_not_a_token_0000000000');
    assert.deepEqual([unknown.status, unknown.body.error?.code], [401, 'unauthorized']);
    const admin = await send(`Bearer ${String(t.config.ADMIN_TOKEN)}`);
    assert.equal(admin.status, 400, JSON.stringify(admin.body));
  });
});
