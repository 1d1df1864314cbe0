import assert from 'node:assert/strict';
import type { DataSource } from 'typeorm';
import { startTestService, TEST_ADMIN_TOKEN, TEST_ENCRYPTION_KEY, type TestService } from '../helpers/test-service.js';
import { trackDatabase, uniqueDatabaseUrl } from '../helpers/test-database.js';
import { startFakePaypal, type FakeApp, type FakePaypal } from '../helpers/fake-paypal.js';
import { createMemoryLogger } from '../helpers/memory-logger.js';
import { scopedToken } from '../helpers/account-scopes.js';
import { createDataSource } from '../../src/db/data-source.js';
import { createAccountService } from '../../src/accounts/account.service.js';
import { createSecretBox } from '../../src/shared/secret-box.js';
import { createPaypalConnectionService, paypalSealContext } from '../../src/paypal/paypal-connection.service.js';
import { PAYPAL_EVENT_TYPES } from '../../src/paypal/event-types.js';

const auth = { Authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
const PUBLIC_BASE_URL = 'https://billing.example.test';
const DAY = 24 * 3600_000;

describe('PayPal connection (Settings > Payment Gateways > PayPal)', function () {
  this.timeout(60_000);
  let fake: FakePaypal;
  let t: TestService;
  let clock = Date.now();
  let dataSource: DataSource;

  before(async () => {
    fake = await startFakePaypal();
    t = await startTestService({ PAYPAL_API_BASE: fake.url, PUBLIC_BASE_URL }, { now: () => new Date(clock) });
    dataSource = createDataSource(t.config.DATABASE_URL);
    await dataSource.initialize();
  });
  after(async () => {
    await dataSource?.destroy();
    await t?.stop();
    await fake?.stop();
  });

  const newAccount = async (name = 'Acme Plumbing') => {
    const res = await t.http.post('/api/accounts').set(auth).send({ name });
    assert.equal(res.status, 201);
    return res.body.id as string;
  };
  const connect = (accountId: string, body: object, headers: Record<string, string> = auth) => t.http.put(`/api/accounts/${accountId}/paypal`).set(headers).send(body);
  const asBody = (app: FakeApp, mode: string = app.mode) => ({ clientId: app.clientId, clientSecret: app.clientSecret, mode });
  const webhooksOf = (app: FakeApp) => [...fake.webhooks.values()].filter((w) => w.clientId === app.clientId);
  const urlOf = (accountId: string) => `${PUBLIC_BASE_URL}/webhooks/paypal/${accountId}`;
  /** The service as phase 2's webhook route and Pay with PayPal will call it. */
  const service = () =>
    createPaypalConnectionService({
      dataSource,
      accounts: createAccountService(dataSource),
      secretBox: createSecretBox(Buffer.from(TEST_ENCRYPTION_KEY, 'hex')),
      logger: createMemoryLogger().logger,
      api: { apiBase: fake.url },
      publicBaseUrl: PUBLIC_BASE_URL,
      now: () => new Date(clock),
    });

  it('connects a sandbox app: checked with PayPal through its SDK, the webhook made for the handled types at this account\'s URL, the secret sealed', async () => {
    const accountId = await newAccount();
    const app = fake.addApp({ mode: 'sandbox' });
    const res = await connect(accountId, { clientId: `  ${app.clientId}\n`, clientSecret: ` ${app.clientSecret} `, mode: ' Sandbox ' });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const [webhook] = webhooksOf(app);
    assert.deepEqual(res.body, {
      mode: 'sandbox',
      clientId: app.clientId,
      secretLast4: app.clientSecret.slice(-4),
      webhookId: webhook!.id,
      webhookUrl: urlOf(accountId),
      eventTypes: [...PAYPAL_EVENT_TYPES],
      previousWebhookId: null,
      previousWebhookExpiresAt: null,
      connectedAt: res.body.connectedAt,
      warnings: [],
    });
    assert.equal(webhook!.url, urlOf(accountId));
    assert.deepEqual(webhook!.eventTypes, [
      'PAYMENT.CAPTURE.COMPLETED',
      'PAYMENT.CAPTURE.PENDING',
      'PAYMENT.CAPTURE.DENIED',
      'PAYMENT.CAPTURE.REFUNDED',
      'PAYMENT.CAPTURE.REVERSED',
      'CUSTOMER.DISPUTE.CREATED',
      'CUSTOMER.DISPUTE.RESOLVED',
      'CHECKOUT.ORDER.APPROVED',
    ]);
    // The token came from PayPal's sandbox host name, as the official SDK asks it.
    const tokenRequest = fake.requests.findLast((r) => r.path === '/v1/oauth2/token');
    assert.equal(tokenRequest?.host, 'api-m.sandbox.paypal.com');
    const [row] = await t.query<{ client_secret_enc: string }>('SELECT client_secret_enc FROM paypal_connections WHERE account_id = ?', [accountId]);
    assert.match(row!.client_secret_enc, /^v2\./);
    assert.ok(!row!.client_secret_enc.includes(app.clientSecret));
    assert.equal(createSecretBox(Buffer.from(TEST_ENCRYPTION_KEY, 'hex')).open(row!.client_secret_enc, paypalSealContext(accountId)), app.clientSecret);
    assert.deepEqual((await t.http.get(`/api/accounts/${accountId}/paypal`).set(auth)).body, res.body);
    assert.ok(!t.logs.some((line) => line.includes(app.clientSecret)), 'the secret is never logged');
    assert.deepEqual(await service().webhookIds(accountId), [webhook!.id]);
    assert.deepEqual(await service().credentials(accountId), { clientId: app.clientId, clientSecret: app.clientSecret, mode: 'sandbox' });
  });

  const sandboxApp = () => fake.addApp({ mode: 'sandbox' });
  const liveApp = () => fake.addApp({ mode: 'live' });
  const mistakes: [string, () => object, number, string, RegExp][] = [
    ['nothing pasted', () => ({ mode: 'sandbox' }), 400, 'paypal_credentials_missing', /Paste your PayPal app's Client ID and Secret: developer\.paypal\.com > Apps & Credentials/],
    ['only the client id', () => ({ clientId: sandboxApp().clientId, clientSecret: '  \n', mode: 'sandbox' }), 400, 'paypal_credentials_missing', /Secret \(clientSecret\)/],
    ['a client id cut in two by a space', () => ({ clientId: 'AbCdEfGhIjKlMnOp QrStUvWx', clientSecret: sandboxApp().clientSecret, mode: 'sandbox' }), 400, 'paypal_credentials_malformed', /clientId does not look like a PayPal app's Client ID/],
    ['"id:secret" in the secret', () => ({ clientId: sandboxApp().clientId, clientSecret: 'AbCdEfGhIjKlMnOp:QrStUvWx', mode: 'sandbox' }), 400, 'paypal_credentials_malformed', /clientSecret does not look like/],
    ['the client id twice', () => ({ clientId: sandboxApp().clientId, clientSecret: fake.apps.at(-1)!.clientId, mode: 'sandbox' }), 400, 'paypal_credentials_malformed', /the same value/],
    ['no mode', () => ({ ...asBody(sandboxApp()), mode: undefined }), 400, 'paypal_mode_invalid', /"sandbox" .* or "live"/],
    ['mode "production"', () => asBody(sandboxApp(), 'production'), 400, 'paypal_mode_invalid', /mode must be "sandbox"/],
    ['a secret PayPal does not know (regenerated)', () => ({ ...asBody(sandboxApp()), clientSecret: 'EOLDsecret0123456789abcdefABCDEF' }), 400, 'paypal_credentials_invalid', /refused these credentials \(invalid_client\) in sandbox and in live: the Secret was regenerated/],
    ['sandbox credentials in live mode', () => asBody(sandboxApp(), 'live'), 400, 'paypal_mode_mismatch', /These are sandbox credentials, and mode is "live".*Send mode "sandbox", or paste the live app's Client ID and Secret/],
    ['live credentials in sandbox mode', () => asBody(liveApp(), 'sandbox'), 400, 'paypal_mode_mismatch', /These are live credentials, and mode is "sandbox"/],
  ];
  for (const [name, body, status, code, message] of mistakes) {
    it(`answers ${status} ${code} for ${name}, and saves and creates nothing`, async () => {
      const accountId = await newAccount();
      const webhooksBefore = fake.webhooks.size;
      const res = await connect(accountId, body());
      assert.equal(res.status, status, JSON.stringify(res.body));
      assert.equal(res.body.error.code, code);
      assert.match(res.body.error.message, message);
      const after = await t.http.get(`/api/accounts/${accountId}/paypal`).set(auth);
      assert.deepEqual([after.status, after.body.error.code], [404, 'paypal_not_connected']);
      assert.match(after.body.error.message, /PUT \/api\/accounts\/ma_\w+\/paypal with its app's clientId, clientSecret and mode/);
      assert.equal(fake.webhooks.size, webhooksBefore);
    });
  }

  it('tells the mode by asking the other host: the live host first, then the sandbox one', async () => {
    const accountId = await newAccount();
    const from = fake.requests.length;
    const res = await connect(accountId, asBody(sandboxApp(), 'live'));
    assert.equal(res.body.error.code, 'paypal_mode_mismatch');
    assert.deepEqual(res.body.error.credentialsMode, 'sandbox');
    assert.deepEqual(
      fake.requests.slice(from).filter((r) => r.path === '/v1/oauth2/token').map((r) => r.host),
      ['api-m.paypal.com', 'api-m.sandbox.paypal.com'],
    );
  });

  it('answers 502 paypal_unreachable when PayPal does not answer, and saves nothing', async () => {
    const accountId = await newAccount();
    const app = sandboxApp();
    fake.unreachable = true;
    try {
      const res = await connect(accountId, asBody(app));
      assert.deepEqual([res.status, res.body.error.code], [502, 'paypal_unreachable']);
      assert.match(res.body.error.message, /PayPal could not be reached to check the credentials .*nothing was saved/);
    } finally {
      fake.unreachable = false;
    }
    assert.equal((await t.http.get(`/api/accounts/${accountId}/paypal`).set(auth)).status, 404);
  });

  it('gives up on a PayPal that does not answer within the timeout: paypal_unreachable', async () => {
    const accountId = await newAccount();
    const slow = createPaypalConnectionService({
      dataSource,
      accounts: createAccountService(dataSource),
      secretBox: createSecretBox(Buffer.from(TEST_ENCRYPTION_KEY, 'hex')),
      logger: createMemoryLogger().logger,
      api: { apiBase: fake.url, timeoutMs: 200 },
    });
    fake.delayMs = 1000;
    try {
      await assert.rejects(slow.connect(accountId, asBody(sandboxApp())), { code: 'paypal_unreachable', message: /timeout of 200ms exceeded/ });
    } finally {
      fake.delayMs = 0;
    }
  });

  it('rolls the secret of the same app: the webhook and its id stay, one webhook at PayPal', async () => {
    const accountId = await newAccount();
    const app = sandboxApp();
    const first = await connect(accountId, asBody(app));
    app.clientSecret = `E${'rolled'.repeat(10)}`;
    const rolled = await connect(accountId, asBody(app));
    assert.equal(rolled.status, 200, JSON.stringify(rolled.body));
    assert.equal(rolled.body.webhookId, first.body.webhookId);
    assert.equal(rolled.body.secretLast4, app.clientSecret.slice(-4));
    assert.equal(rolled.body.previousWebhookId, null);
    assert.deepEqual(webhooksOf(app).map((w) => w.id), [first.body.webhookId]);
    assert.equal((await service().credentials(accountId))!.clientSecret, app.clientSecret);
  });

  it('rolls to another app (sandbox to live): a webhook there, the previous one deleted at PayPal, its id verifying 24 h more', async () => {
    const accountId = await newAccount();
    const sandbox = sandboxApp();
    const live = liveApp();
    const first = await connect(accountId, asBody(sandbox));
    const second = await connect(accountId, asBody(live));
    assert.equal(second.status, 200, JSON.stringify(second.body));
    assert.equal(second.body.mode, 'live');
    const [liveWebhook] = webhooksOf(live);
    assert.equal(second.body.webhookId, liveWebhook!.id);
    assert.deepEqual(webhooksOf(sandbox), [], 'the sandbox app\'s webhook is deleted');
    assert.equal(second.body.previousWebhookId, first.body.webhookId);
    assert.equal(Date.parse(second.body.previousWebhookExpiresAt), clock + DAY);
    assert.deepEqual(await service().webhookIds(accountId), [liveWebhook!.id, first.body.webhookId]);
    clock += DAY + 1000;
    try {
      assert.deepEqual(await service().webhookIds(accountId), [liveWebhook!.id]);
      assert.equal((await t.http.get(`/api/accounts/${accountId}/paypal`).set(auth)).body.previousWebhookId, null);
    } finally {
      clock = Date.now();
    }
  });

  it('keeps the webhook already at this account\'s URL and brings its event types up to date, rather than failing on PayPal\'s one-webhook-per-URL rule', async () => {
    const accountId = await newAccount();
    const app = sandboxApp();
    fake.webhooks.set('OLDWEBHOOK0001', { id: 'OLDWEBHOOK0001', url: urlOf(accountId), eventTypes: ['PAYMENT.CAPTURE.COMPLETED'], clientId: app.clientId });
    const res = await connect(accountId, asBody(app));
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.webhookId, 'OLDWEBHOOK0001');
    assert.deepEqual(fake.webhooks.get('OLDWEBHOOK0001')!.eventTypes, [...PAYPAL_EVENT_TYPES]);
  });

  it('answers 502 paypal_error naming PayPal\'s limit when the app has its 10 webhooks, and saves nothing', async () => {
    const accountId = await newAccount();
    const app = sandboxApp();
    for (let i = 0; i < 10; i += 1) fake.webhooks.set(`FULL${app.clientId.slice(1, 9)}${i}`, { id: `FULL${app.clientId.slice(1, 9)}${i}`, url: `https://elsewhere.example/${i}`, eventTypes: ['*'], clientId: app.clientId });
    const res = await connect(accountId, asBody(app));
    assert.deepEqual([res.status, res.body.error.code, res.body.error.paypalError], [502, 'paypal_error', 'WEBHOOK_NUMBER_LIMIT_EXCEEDED']);
    assert.match(res.body.error.message, /the app already has its 10 webhooks, PayPal's limit\. Delete unused ones/);
    assert.equal((await t.http.get(`/api/accounts/${accountId}/paypal`).set(auth)).status, 404);
  });

  it('answers 409 paypal_app_in_use for an app another account holds, naming it (not to a token confined to this account), and leaves no webhook behind', async () => {
    const holder = await newAccount('Holder Ltd');
    const app = sandboxApp();
    assert.equal((await connect(holder, asBody(app))).status, 200);
    const other = await newAccount('Other Ltd');
    const res = await connect(other, asBody(app));
    assert.deepEqual([res.status, res.body.error.code, res.body.error.connectedTo], [409, 'paypal_app_in_use', holder]);
    assert.match(res.body.error.message, new RegExp(`already connected to merchant account ${holder}.*DELETE /api/accounts/${holder}/paypal`));
    const confined = await connect(other, asBody(app), (await scopedToken(t, 'admin', other)).headers);
    assert.deepEqual([confined.status, confined.body.error.code], [409, 'paypal_app_in_use']);
    assert.ok(!JSON.stringify(confined.body).includes(holder), 'the holder is not named');
    assert.deepEqual(webhooksOf(app).map((w) => w.url), [urlOf(holder)]);
  });

  it('disconnects: the webhook it made is deleted at PayPal, the connection is gone', async () => {
    const accountId = await newAccount();
    const app = sandboxApp();
    await connect(accountId, asBody(app));
    const res = await t.http.delete(`/api/accounts/${accountId}/paypal`).set(auth);
    assert.equal(res.status, 204);
    assert.deepEqual(webhooksOf(app), []);
    assert.deepEqual([(await t.http.get(`/api/accounts/${accountId}/paypal`).set(auth)).status], [404]);
    const again = await t.http.delete(`/api/accounts/${accountId}/paypal`).set(auth);
    assert.deepEqual([again.status, again.body.error.code], [404, 'paypal_not_connected']);
    assert.deepEqual(await service().webhookIds(accountId), []);
    assert.equal(await service().webhookIds('ma_00000000000000000000'), null);
  });

  it('disconnects even when PayPal is down, saying in the log which webhook to delete by hand', async () => {
    const accountId = await newAccount();
    const app = sandboxApp();
    const connected = await connect(accountId, asBody(app));
    fake.unreachable = true;
    try {
      assert.equal((await t.http.delete(`/api/accounts/${accountId}/paypal`).set(auth)).status, 204);
    } finally {
      fake.unreachable = false;
    }
    assert.ok(t.logs.some((line) => line.includes('could not delete the PayPal webhook') && line.includes(connected.body.webhookId)));
  });

  it('refuses a secret copied onto another account\'s row (never decrypted): 409 paypal_connection_unusable, naming the account', async () => {
    const a = await newAccount('A');
    const b = await newAccount('B');
    await connect(a, asBody(sandboxApp()));
    await connect(b, asBody(sandboxApp()));
    await t.query('UPDATE paypal_connections SET client_secret_enc = (SELECT x.client_secret_enc FROM (SELECT client_secret_enc FROM paypal_connections WHERE account_id = ?) x) WHERE account_id = ?', [a, b]);
    await assert.rejects(service().credentials(b), { code: 'paypal_connection_unusable', message: new RegExp(`account ${b} .*PUT /api/accounts/${b}/paypal`) });
    assert.ok(await service().credentials(a));
  });

  it('answers 404 account_not_found for an account that does not exist', async () => {
    const res = await connect('ma_00000000000000000000', asBody(sandboxApp()));
    assert.deepEqual([res.status, res.body.error.code], [404, 'account_not_found']);
  });
});

describe('PayPal connection without PUBLIC_BASE_URL', function () {
  this.timeout(60_000);
  let fake: FakePaypal;
  let t: TestService;

  before(async () => {
    fake = await startFakePaypal();
    t = await startTestService({ PAYPAL_API_BASE: fake.url });
  });
  after(async () => {
    await t?.stop();
    await fake?.stop();
  });

  it('connects with a warning that no webhook was made, so no event can be verified yet', async () => {
    const accountId = (await t.http.post('/api/accounts').set(auth).send({ name: 'No URL Ltd' })).body.id as string;
    const app = fake.addApp({ mode: 'live' });
    const res = await t.http.put(`/api/accounts/${accountId}/paypal`).set(auth).send({ clientId: app.clientId, clientSecret: app.clientSecret, mode: 'live' });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual([res.body.mode, res.body.webhookId, res.body.eventTypes], ['live', null, []]);
    assert.match(res.body.warnings[0], /No webhook: PUBLIC_BASE_URL is not set.*Set PUBLIC_BASE_URL and connect again/);
    assert.equal(fake.webhooks.size, 0);
  });
});

describe('starting with another ENCRYPTION_KEY than the stored PayPal secrets were sealed with', function () {
  this.timeout(90_000);

  it('refuses to start, naming the PayPal accounts, and once the printed statement forgets them, starts and lets them connect again keeping their webhook', async () => {
    const fake = await startFakePaypal();
    const databaseUrl = uniqueDatabaseUrl('ppenckey');
    trackDatabase(databaseUrl);
    const env = { DATABASE_URL: databaseUrl, PAYPAL_API_BASE: fake.url, PUBLIC_BASE_URL: 'https://billing.example.test' };
    const app = fake.addApp({ mode: 'sandbox' });
    const body = { clientId: app.clientId, clientSecret: app.clientSecret, mode: 'sandbox' };
    let accountId: string;
    const first = await startTestService({ ...env, ENCRYPTION_KEY: 'ab'.repeat(32) });
    try {
      accountId = (await first.http.post('/api/accounts').set(auth).send({ name: 'Sealed PayPal' })).body.id as string;
      await first.http.put(`/api/accounts/${accountId}/paypal`).set(auth).send(body).expect(200);
    } finally {
      await first.stop();
    }
    try {
      const error = await startTestService({ ...env, ENCRYPTION_KEY: 'cd'.repeat(32) }).then(
        () => assert.fail('started with a key that opens no stored PayPal secret'),
        (e: Error) => e,
      );
      assert.match(error.message, new RegExp(`^ENCRYPTION_KEY: cannot decrypt the PayPal secrets stored for 1 account \\(${accountId}\\): it is not the key they were sealed with\\.$`, 'm'));
      assert.match(error.message, /^Fix: set ENCRYPTION_KEY back to the key they were sealed with, and start again\.$/m);
      assert.match(error.message, /connect PayPal again: PUT \/api\/accounts\/<account id>\/paypal/);
      assert.doesNotMatch(error.message, /Stripe keys stored|stripe_connections/, 'no Stripe connection is stored: none is named');
      assert.ok(!error.message.includes(app.clientSecret), 'the secret is never printed');
      await assert.rejects(startTestService({ ...env, ENCRYPTION_KEY: '' }), new RegExp(`ENCRYPTION_KEY is not set, but the PayPal secrets of 1 account \\(${accountId}\\) are stored encrypted`));

      // The key is lost: the printed statement forgets the secrets, and the service starts with the new key.
      const statement = /-e "(DELETE FROM paypal_connections[^"]*)"/.exec(error.message)?.[1];
      assert.ok(statement, error.message);
      const db = createDataSource(databaseUrl);
      await db.initialize();
      try {
        await db.query(statement);
      } finally {
        await db.destroy();
      }
      const again = await startTestService({ ...env, ENCRYPTION_KEY: 'cd'.repeat(32) });
      try {
        const webhooksBefore = [...fake.webhooks.values()].filter((w) => w.clientId === app.clientId).map((w) => w.id);
        const res = await again.http.put(`/api/accounts/${accountId}/paypal`).set(auth).send(body);
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assert.deepEqual([res.body.webhookId], webhooksBefore, 'the webhook PayPal already had for the account is kept');
      } finally {
        await again.stop();
      }
    } finally {
      await fake.stop();
    }
  });
});
