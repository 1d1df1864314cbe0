import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { startTestService, type TestService } from '../helpers/test-service.js';
import { startFakeStripe } from '../helpers/fake-stripe.js';
import { uniqueDatabaseUrl } from '../helpers/test-database.js';
import { auth } from '../helpers/billing-client.js';
import { createToken } from '../helpers/ops-client.js';
import { recentPayments } from '../helpers/catch-up.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/billed-ops.js', import.meta.url));
const DEFAULT_KEY = 'sk_test_51HcatchUpCli0123456789abcdef';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The CLI as on-call runs it: a child process talking HTTP to the service. */
function cli(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: ROOT, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

describe('billed-ops catch-up, status and endpoint repair', function () {
  this.timeout(120_000);
  let t: TestService;
  let fake: Awaited<ReturnType<typeof startFakeStripe>>;
  let env: Record<string, string>;
  let merchantId: string;
  let endpointId: string;
  let recoveredId: string;

  before(async () => {
    fake = await startFakeStripe();
    const stripeAccount = fake.addAccount({ keys: [DEFAULT_KEY] }).id;
    const events = recentPayments([{ id: 'inv_cli', amounts: Array.from({ length: 125 }, (_, i) => 100 + i) }]).flatMap((p) => p.events);
    fake.events.add(stripeAccount, events);
    recoveredId = events[0]!.id;
    t = await startTestService({
      DATABASE_URL: uniqueDatabaseUrl('catch_up_cli'),
      STRIPE_SECRET_KEY: DEFAULT_KEY,
      STRIPE_API_BASE: fake.url,
      PUBLIC_BASE_URL: 'https://billing.example.test',
      CATCH_UP_MAX_RPS: '2',
    });
    const merchantKey = `sk_test_51H${randomBytes(10).toString('hex')}`;
    fake.addAccount({ keys: [merchantKey] });
    const account = await t.http.post('/api/accounts').set(auth).send({ name: 'CLI merchant' }).expect(201);
    merchantId = account.body.id;
    endpointId = (await t.http.put(`/api/accounts/${merchantId}/stripe`).set(auth).send({ secretKey: merchantKey }).expect(200)).body.webhookEndpointId;
    env = { BILLED_URL: t.baseUrl, BILLED_TOKEN: (await createToken(t, 'operator', 'cli-catch-up')).token };
  });
  after(async () => {
    await t.stop();
    await fake.stop();
  });

  it('catch-up shows its progress as pages are stored, then a summary: listed, new, already had', async () => {
    const run = await cli(['catch-up', '--account', 'default', '--since', '3d'], env);
    assert.equal(run.code, 0, run.stderr);
    const progress = run.stderr.trim().split('\n');
    // Listing runs one page ahead of storing: a page's line may already count the next page as listed.
    assert.ok(progress.some((line) => /^default: listed (100|200|250), new (100|200), already had 0$/.test(line)), `a line per page as it is stored:\n${run.stderr}`);
    assert.equal(progress[progress.length - 1], 'default: listed 250, new 250, already had 0');
    const [header, row] = run.stdout.trim().split('\n');
    assert.match(header!, /^ACCOUNT\s+OUTCOME\s+LISTED\s+NEW\s+ALREADY HAD\s+RATE-LIMITED\s+SECONDS\s+EVENTS\/S\s+ENDPOINT$/);
    assert.match(row!, /^default\s+done\s+250\s+250\s+0\s+0\s+[\d.]+\s+\d+\s+not watched \(default account\)$/);

    const again = await cli(['catch-up', '--account', 'default', '--since', '3d', '--json'], env);
    assert.equal(again.code, 0, again.stderr);
    const [job] = JSON.parse(again.stdout).jobs;
    assert.deepEqual([job.catchUp.listed, job.catchUp.new, job.catchUp.alreadyHad], [250, 0, 250]);

    const shown = await cli(['events', 'show', recoveredId, '--no-payload'], env);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /^received:\s+\S+ \(fetched by catch-up: no delivery brought it\)$/m);
    assert.match(shown.stdout, /History:\n\s+\S+\s+received \(fetched by catch-up\)/);
  });

  it('status shows each account\'s last catch-up and its endpoint\'s problems; endpoint repair fixes them', async () => {
    fake.endpoints.get(endpointId)!.status = 'disabled';
    const caught = await cli(['catch-up', '--account', merchantId], env);
    assert.equal(caught.code, 0, caught.stderr);
    assert.match(caught.stdout, new RegExp(`^${merchantId}\\s+done\\s+0\\s+0\\s+0\\s+.*PROBLEMS: disabled$`, 'm'));

    const status = await cli(['status'], env);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /^ACCOUNT\s+GATEWAY\s+LAST CATCH-UP\s+OUTCOME\s+LISTED\s+NEW\s+RECOVERED\s+ENDPOINT$/m);
    assert.match(status.stdout, /^default\s+stripe\s+\S+\s+succeeded \(operator\)\s+250\s+0\s+250\s+not watched/m);
    assert.match(status.stdout, new RegExp(`^${merchantId}\\s+stripe\\s+\\S+\\s+succeeded \\(operator\\)\\s+0\\s+0\\s+0\\s+PROBLEMS: disabled$`, 'm'));
    assert.match(status.stdout, new RegExp(`fix with: billed-ops endpoint repair <account>\\):\\n\\s+${merchantId} \\(${endpointId}\\): Stripe reports the endpoint disabled`));

    const repaired = await cli(['endpoint', 'repair', merchantId], env);
    assert.equal(repaired.code, 0, repaired.stderr);
    assert.match(repaired.stdout, new RegExp(`^Re-enabled endpoint ${endpointId} of ${merchantId}: now ok\\. Audit #\\d+\\.\n$`));
    assert.match((await cli(['status'], env)).stdout, new RegExp(`^${merchantId}\\s+.*\\sok$`, 'm'));
  });

  it('catch-up of every account with a key when none is named, and usage errors with exit 2', async () => {
    const all = await cli(['catch-up', '--since', '1h', '--json'], env);
    assert.equal(all.code, 0, all.stderr);
    assert.deepEqual(JSON.parse(all.stdout).jobs.map((j: { accountId: string }) => j.accountId).sort(), ['default', merchantId].sort());

    const tooOld = await cli(['catch-up', '--since', '40d'], env);
    assert.equal(tooOld.code, 2);
    assert.match(tooOld.stderr, /invalid_since: since must be within the last 30 days/);
    const notStarted = await cli(['catch-up', '--account', 'default', '--no-wait'], env);
    assert.equal(notStarted.code, 0, notStarted.stderr);
    assert.match(notStarted.stdout, /^default\s+op-default-[0-9a-f]{12}$/m);
  });
});
