import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { startTestService, TEST_ADMIN_TOKEN, type TestService } from '../helpers/test-service.js';
import { uniqueDatabaseUrl } from '../helpers/test-database.js';
import { createInvoice, deliver, deliverInOrder, getInvoice, settled } from '../helpers/billing-client.js';
import { paymentEvents } from '../helpers/payment-events.js';
import { createToken } from '../helpers/ops-client.js';
import { waitFor } from '../helpers/wait-for.js';
import { eventHandlers } from '../../src/events/subscribed-events.js';
import type { HandlerRegistry } from '../../src/events/handler-registry.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/billed-ops.js', import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The CLI as a person or a script runs it: a child process, talking HTTP to the service. */
function cli(args: string[], env: Record<string, string | undefined> = {}, command = [process.execPath, BIN]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      command[0]!,
      [...command.slice(1), ...args],
      { cwd: ROOT, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe('billed-ops CLI', function () {
  this.timeout(120_000);
  let t: TestService;
  let env: Record<string, string>;
  let refundsBroken = false;
  const registry: HandlerRegistry = {
    ...eventHandlers,
    'charge.refunded': async (context) => {
      if (refundsBroken) throw new Error('refund ledger column missing');
      return eventHandlers['charge.refunded']!(context);
    },
  };
  let failedEventId: string;
  let failedInvoiceId: string;
  let failedInvoiceNumber: string;
  let processedEventId: string;

  before(async () => {
    t = await startTestService({ DATABASE_URL: uniqueDatabaseUrl('ops_cli'), JOB_ATTEMPTS: '2' }, { registry });
    const operator = await createToken(t, 'operator', 'cli-operator');
    env = { BILLED_URL: t.baseUrl, BILLED_TOKEN: operator.token };

    const invoice = await createInvoice(t, { amountDue: 4000 });
    const payment = paymentEvents({ invoiceId: invoice.id, amount: 4000 });
    const [succeeded] = [payment.paymentIntent('payment_intent.succeeded')];
    await deliverInOrder(t, [succeeded!, payment.charge('charge.succeeded')]);
    processedEventId = succeeded!.id;
    refundsBroken = true;
    const refunded = payment.charge('charge.refunded', { amountRefunded: 4000 });
    await deliver(t, refunded);
    assert.equal((await settled(t, refunded.id)).status, 'failed');
    failedEventId = refunded.id;
    failedInvoiceId = invoice.id;
    failedInvoiceNumber = invoice.number;
  });
  after(() => t.stop());

  describe('events', () => {
    it('list prints a table of events, newest first', async () => {
      const run = await cli(['events', 'list'], env);
      assert.equal(run.code, 0, run.stderr);
      const lines = run.stdout.trim().split('\n');
      assert.match(lines[0]!, /^RECEIVED\s+EVENT\s+ACCOUNT\s+TYPE\s+STATUS\s+TRIES\s+ERROR \/ REASON$/);
      assert.equal(lines.length, 4);
      assert.match(lines[1]!, new RegExp(`${failedEventId}\\s+default\\s+charge.refunded\\s+failed\\s+2\\s+Error: refund ledger column missing`));
    });

    it('list filters (--status, --type, --since, -q by id or invoice number) and prints JSON with --json', async () => {
      const run = await cli(['events', 'list', '--status', 'failed', '--type', 'charge.*', '--since', '2h', '-q', failedInvoiceId, '--json'], env);
      assert.equal(run.code, 0, run.stderr);
      const body = JSON.parse(run.stdout);
      assert.deepEqual(body.data.map((e: { id: string }) => e.id), [failedEventId]);
      const byNumber = await cli(['events', 'list', '--query', failedInvoiceNumber, '--json'], env);
      assert.equal(byNumber.code, 0, byNumber.stderr);
      assert.ok(JSON.parse(byNumber.stdout).data.some((e: { id: string }) => e.id === processedEventId), 'found by the invoice number');
      const none = await cli(['events', 'list', '--status', 'ignored'], env);
      assert.equal(none.code, 0);
      assert.equal(none.stdout.trim(), 'No events match.');
    });

    it('show prints the record, each try with its error and where it was thrown, the history and the payload', async () => {
      const run = await cli(['events', 'show', failedEventId], env);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /^event:\s+evt_/m);
      assert.match(run.stdout, /^status:\s+failed$/m);
      assert.match(run.stdout, /^TRY\s+STARTED\s+MS\s+OUTCOME\s+ERROR\s+THROWN AT$/m);
      assert.match(run.stdout, /^2\s+\S+\s+\d+\s+failed\s+Error: refund ledger column missing\s+test\/ops\/cli\.test\.ts:\d+$/m);
      assert.match(run.stdout, /History:\n\s+\S+\s+received\n\s+\S+\s+try: retrying\n\s+\S+\s+try: failed/);
      const payload = run.stdout.slice(run.stdout.indexOf('Payload:\n') + 'Payload:\n'.length);
      assert.equal(JSON.parse(payload).id, failedEventId, 'the raw payload, as JSON');
    });

    it('show exits 3 for an event that does not exist', async () => {
      const run = await cli(['events', 'show', 'evt_does_not_exist'], env);
      assert.equal(run.code, 3);
      assert.match(run.stderr, /event_not_found/);
    });
  });

  describe('replay', () => {
    it('--failed --type --since --dry-run counts, then the real run replays, and an id replays one event', async () => {
      refundsBroken = false; // the fix is deployed
      const dry = await cli(['replay', '--failed', '--since', '2h', '--type', 'charge.refunded', '--dry-run'], env);
      assert.equal(dry.code, 0, dry.stderr);
      assert.equal(dry.stdout.trim(), 'Dry run: 1 event(s) match; nothing was replayed.');
      assert.equal((await settled(t, failedEventId)).status, 'failed');

      const real = await cli(['replay', '--failed', '--since', '2h', '--type', 'charge.refunded'], env);
      assert.equal(real.code, 0, real.stderr);
      assert.match(real.stdout, /^Replayed: 1 matched, 1 enqueued \(audit #\d+\)\.$/m);
      await waitFor('the refund to be processed', async () => (await getInvoice(t, failedInvoiceId)).status === 'refunded');

      const one = await cli(['replay', processedEventId], env);
      assert.equal(one.code, 0, one.stderr);
      assert.match(one.stdout, new RegExp(`^Replayed ${processedEventId} \\(was processed\\); queued\\. Audit #\\d+\\.$`, 'm'));
    });

    it('also runs as `npm run ops --`', async () => {
      const run = await cli(['run', '-s', 'ops', '--', 'replay', '--status', 'failed', '--dry-run'], env, ['npm']);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout.trim(), 'Dry run: 0 event(s) match; nothing was replayed.');
    });
  });

  describe('tokens', () => {
    it('create prints the secret once; the token works; revoke stops it (exit 4 after)', async () => {
      const admin = { ...env, BILLED_TOKEN: TEST_ADMIN_TOKEN };
      const created = await cli(['tokens', 'create', '--name', 'frank (on-call)', '--role', 'operator'], admin);
      assert.equal(created.code, 0, created.stderr);
      const token = /^(bld_\S+)$/m.exec(created.stdout)?.[1];
      const id = /^(tok_[0-9a-f]{24})\s+frank \(on-call\)\s+operator/m.exec(created.stdout)?.[1];
      assert.ok(token && id, created.stdout);

      assert.equal((await cli(['events', 'list'], { ...env, BILLED_TOKEN: token })).code, 0);
      const listed = await cli(['tokens', 'list'], admin);
      assert.match(listed.stdout, new RegExp(`^${id}\\s+frank \\(on-call\\)\\s+operator`, 'm'));
      assert.ok(!listed.stdout.includes(token), 'the list never shows a secret');

      const revoked = await cli(['tokens', 'revoke', id], admin);
      assert.equal(revoked.code, 0, revoked.stderr);
      assert.equal(revoked.stdout.trim(), `Revoked ${id}.`);
      const after = await cli(['events', 'list'], { ...env, BILLED_TOKEN: token });
      assert.equal(after.code, 4);
      assert.match(after.stderr, /unauthorized/);
      assert.equal((await cli(['tokens', 'revoke', 'tok_000000000000000000000000'], admin)).code, 3);
    });

    it('create --account confines a token to one merchant account; list shows what each token sees', async () => {
      const admin = { ...env, BILLED_TOKEN: TEST_ADMIN_TOKEN };
      const account = await t.http.post('/api/accounts').set({ Authorization: `Bearer ${TEST_ADMIN_TOKEN}` }).send({ name: 'CLI Bakery' });
      assert.equal(account.status, 201);
      const accountId = account.body.id as string;
      const created = await cli(['tokens', 'create', '--name', 'bakery books', '--role', 'accountant', '--account', accountId], admin);
      assert.equal(created.code, 0, created.stderr);
      const id = new RegExp(`^(tok_[0-9a-f]{24})\\s+bakery books\\s+accountant\\s+${accountId}\\s`, 'm').exec(created.stdout)?.[1];
      assert.ok(id, created.stdout);
      const [row] = await t.query<{ account_id: string }>('SELECT account_id FROM access_tokens WHERE id = ?', [id]);
      assert.equal(row!.account_id, accountId);

      const listed = await cli(['tokens', 'list'], admin);
      assert.match(listed.stdout, /^ID\s+NAME\s+ROLE\s+SEES\s/m);
      assert.match(listed.stdout, new RegExp(`^${id}\\s+bakery books\\s+accountant\\s+${accountId}\\s`, 'm'));
      assert.match(listed.stdout, /^tok_[0-9a-f]{24}\s+cli-operator\s+operator\s+all accounts\s/m);
      const json = JSON.parse((await cli(['--json', 'tokens', 'list'], admin)).stdout) as { data: { id: string; accountId: string | null }[] };
      assert.equal(json.data.find((x) => x.id === id)!.accountId, accountId);

      const unknown = await cli(['tokens', 'create', '--name', 'typo', '--role', 'accountant', '--account', 'ma_ffffffffffffffffffff'], admin);
      assert.equal(unknown.code, 2, unknown.stdout);
      assert.match(unknown.stderr, /account_not_found: No merchant account "ma_ffffffffffffffffffff"/);
    });
  });

  describe('the token', () => {
    const secret = 'bld_distinctive-secret-4f9c2e7a1b';

    for (const args of [['--help'], ['events', 'list', '--help'], ['help', 'replay']]) {
      it(`\`${args.join(' ')}\` says the token comes from BILLED_TOKEN, and never prints it`, async () => {
        const run = await cli(args, { ...env, BILLED_TOKEN: secret });
        assert.equal(run.code, 0, run.stderr);
        assert.match(run.stdout, /--token <token>\s+bearer token \(default: env BILLED_TOKEN, set\)/);
        assert.ok(!`${run.stdout}${run.stderr}`.includes(secret), run.stdout);
      });
    }

    it('help says when BILLED_TOKEN is not set', async () => {
      const run = await cli(['--help'], { BILLED_URL: t.baseUrl });
      assert.match(run.stdout, /\(default: env BILLED_TOKEN, not set\)/);
    });

    it('--token overrides BILLED_TOKEN', async () => {
      const overridden = await cli(['events', 'list', '--token', env.BILLED_TOKEN!], { ...env, BILLED_TOKEN: secret });
      assert.equal(overridden.code, 0, overridden.stderr);
      const wrong = await cli(['events', 'list', '--token', secret], env);
      assert.equal(wrong.code, 4);
      assert.ok(!wrong.stderr.includes(secret), wrong.stderr);
    });
  });

  describe('exit codes', () => {
    const usage: [string, string[]][] = [
      ['an unknown command', ['frobnicate']],
      ['replay with neither an id nor a filter', ['replay']],
      ['replay with both an id and a filter', ['replay', 'evt_1', '--failed']],
      ['a status that does not exist', ['events', 'list', '--status', 'done']],
      ['tokens create without a role', ['tokens', 'create', '--name', 'x']],
      ['a time the API cannot read (400 from the service)', ['events', 'list', '--since', 'yesterday']],
    ];
    for (const [what, args] of usage) {
      it(`exits 2 for ${what}`, async () => {
        const run = await cli(args, env);
        assert.equal(run.code, 2, `${run.stdout}${run.stderr}`);
        assert.match(run.stderr, /error/);
      });
    }

    it('exits 0 for --help', async () => {
      const run = await cli(['--help'], env);
      assert.equal(run.code, 0);
      assert.match(run.stdout, /Exit codes: 0 ok, 1 API error/);
    });

    it('exits 4 without a token and with a token of the wrong role', async () => {
      assert.equal((await cli(['events', 'list'], { BILLED_URL: t.baseUrl })).code, 4);
      const forbidden = await cli(['tokens', 'list'], env);
      assert.equal(forbidden.code, 4);
      assert.match(forbidden.stderr, /forbidden/);
    });

    it('exits 5 when the service cannot be reached', async () => {
      const run = await cli(['events', 'list', '--url', 'http://127.0.0.1:1'], env);
      assert.equal(run.code, 5);
      assert.match(run.stderr, /Cannot reach the service/);
    });

    describe('against a service that fails', () => {
      let server: Server;
      let url: string;
      before(async () => {
        server = createServer((req, res) => {
          if (req.url?.startsWith('/api/ops/audit')) {
            // A careless service (or proxy) that echoes the credentials it was given.
            res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'unauthorized', message: `bad ${req.headers.authorization}` } }));
          } else if (req.url?.startsWith('/api/ops/events')) {
            res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"code":"internal_error","message":"boom"}}');
          } else res.writeHead(200, { 'content-type': 'text/html' }).end('<html>not the API</html>');
        });
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      });
      after(() => new Promise((resolve) => server.close(resolve)));

      it('exits 1 for a 5xx answer, and for an answer that is not the API', async () => {
        const failing = await cli(['events', 'list', '--url', url], env);
        assert.equal(failing.code, 1);
        assert.match(failing.stderr, /internal_error: boom/);
        const html = await cli(['tokens', 'list', '--url', url], env);
        assert.equal(html.code, 1);
        assert.match(html.stderr, /not JSON/);
      });

      it('masks the token even where the service echoes it back', async () => {
        const token = 'bld_echoed-secret-7d1e0c93';
        for (const given of [{ env: { ...env, BILLED_TOKEN: token }, args: [] }, { env, args: ['--token', token] }]) {
          const run = await cli(['audit', '--url', url, ...given.args, '--json'], given.env);
          assert.equal(run.code, 4);
          assert.match(run.stderr, /unauthorized: bad Bearer \[token\]/);
          assert.ok(!`${run.stdout}${run.stderr}`.includes(token), run.stderr);
        }
      });
    });
  });
});
