import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startTestService, type TestService } from '../helpers/test-service.js';
import { startFakeStripe } from '../helpers/fake-stripe.js';
import { uniqueDatabaseUrl } from '../helpers/test-database.js';
import { auth } from '../helpers/billing-client.js';
import { bearer, createToken } from '../helpers/ops-client.js';
import { signedDelivery, stripeEvent } from '../helpers/stripe-events.js';
import { metricValue, runCatchUp } from '../helpers/catch-up.js';
import { SUBSCRIBED_EVENT_TYPES } from '../../src/events/subscribed-events.js';

const PUBLIC_BASE_URL = 'https://billing.example.test';

describe('webhook endpoint health: checked with each catch-up, shown, and repaired in one call', function () {
  this.timeout(60_000);
  let t: TestService;
  let fake: Awaited<ReturnType<typeof startFakeStripe>>;
  let operator: Record<string, string>;

  before(async () => {
    fake = await startFakeStripe();
    t = await startTestService({ DATABASE_URL: uniqueDatabaseUrl('endpoint_health'), STRIPE_API_BASE: fake.url, PUBLIC_BASE_URL });
    operator = bearer((await createToken(t, 'operator', 'endpoint-operator')).token);
  });
  after(async () => {
    await t.stop();
    await fake.stop();
  });

  /** A merchant connected with PUBLIC_BASE_URL set: the service creates its endpoint. */
  async function connected(body: Record<string, unknown> = {}) {
    const secretKey = `sk_test_51H${randomBytes(10).toString('hex')}`;
    const stripeAccount = fake.addAccount({ keys: [secretKey] });
    const account = await t.http.post('/api/accounts').set(auth).send({ name: 'Endpoint health' }).expect(201);
    const res = await t.http.put(`/api/accounts/${account.body.id}/stripe`).set(auth).send({ secretKey, ...body });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return { accountId: account.body.id as string, stripeAccountId: stripeAccount.id, secretKey, connection: res.body };
  }

  const check = async (accountId: string) => {
    const [job] = await runCatchUp(t, { accountId }, operator);
    assert.equal(job!.state, 'completed', job!.error ?? '');
    return job!.webhookEndpoint!;
  };
  const health = async (accountId: string) => (await t.http.get(`/api/accounts/${accountId}/stripe`).set(auth).expect(200)).body.webhookEndpoint;
  const repair = (accountId: string) => t.http.post(`/api/accounts/${accountId}/stripe/endpoint/repair`).set(operator);

  it('reports an endpoint Stripe disabled (on the connection, in /metrics, in the ops status) and re-enables it', async () => {
    const { accountId, connection } = await connected();
    assert.equal(connection.webhookEndpoint.status, 'unchecked', 'not checked yet right after connecting');
    assert.equal((await check(accountId)).status, 'ok');
    assert.equal(await metricValue(t, 'billed_webhook_endpoint_problems', `account="${accountId}",gateway="stripe"`), 0);

    fake.endpoints.get(connection.webhookEndpointId)!.status = 'disabled';
    await check(accountId);
    const reported = await health(accountId);
    assert.equal(reported.status, 'problems');
    assert.deepEqual(reported.problems.map((p: { code: string }) => p.code), ['disabled']);
    assert.match(reported.problems[0].message, /disabled.*Repair re-enables it/);
    assert.ok(Date.now() - Date.parse(reported.checkedAt) < 30_000);
    assert.equal(await metricValue(t, 'billed_webhook_endpoint_problems', `account="${accountId}",gateway="stripe"`), 1);
    const status = await t.http.get('/api/ops/catch-up').set(operator).expect(200);
    const mine = status.body.data.find((a: { accountId: string }) => a.accountId === accountId);
    assert.equal(mine.webhookEndpoint.status, 'problems');

    const repaired = await repair(accountId);
    assert.equal(repaired.status, 200, JSON.stringify(repaired.body));
    assert.equal(repaired.body.action, 'reenabled');
    assert.equal(repaired.body.webhookEndpoint.status, 'ok');
    assert.equal(fake.endpoints.get(connection.webhookEndpointId)!.status, 'enabled');
    assert.equal((await health(accountId)).status, 'ok');
    assert.equal(await metricValue(t, 'billed_webhook_endpoint_problems', `account="${accountId}",gateway="stripe"`), 0);
    const audit = await t.http.get(`/api/ops/audit?action=webhook_endpoint.repair&target=${accountId}`).set(operator).expect(200);
    assert.equal(audit.body.data.length, 1);
    assert.equal(audit.body.data[0].actor.name, 'endpoint-operator');
    assert.deepEqual(audit.body.data[0].details.problemsBefore, ['disabled']);
  });

  it('recreates an endpoint deleted in the Dashboard: its new signing secret is stored sealed and verifies deliveries', async () => {
    const { accountId, connection } = await connected();
    fake.endpoints.get(connection.webhookEndpointId)!.deleted = true;
    assert.deepEqual((await check(accountId)).problems.map((p: { code: string }) => p.code), ['deleted']);

    const repaired = await repair(accountId);
    assert.equal(repaired.status, 200, JSON.stringify(repaired.body));
    assert.equal(repaired.body.action, 'recreated');
    assert.equal(repaired.body.previousEndpointId, connection.webhookEndpointId);
    const newId = repaired.body.webhookEndpoint.endpointId as string;
    assert.notEqual(newId, connection.webhookEndpointId);
    assert.equal(repaired.body.webhookEndpoint.status, 'ok');
    const created = fake.endpoints.get(newId)!;
    assert.equal(created.url, `${PUBLIC_BASE_URL}/webhooks/stripe/${accountId}`);
    assert.deepEqual([...created.events].sort(), [...SUBSCRIBED_EVENT_TYPES].sort());
    assert.equal((await t.http.get(`/api/accounts/${accountId}/stripe`).set(auth).expect(200)).body.webhookEndpointId, newId);

    const [row] = await t.query<{ webhook_secrets_enc: string }>('SELECT webhook_secrets_enc FROM stripe_connections WHERE account_id = ?', [accountId]);
    assert.ok(!row!.webhook_secrets_enc.includes(created.secret), 'sealed, not in clear');
    const payload = JSON.stringify(stripeEvent({ type: 'payout.created', resource: 'payout' }));
    const delivered = await t.http.post(`/webhooks/stripe/${accountId}`).set(signedDelivery(payload, created.secret).headers).send(payload);
    assert.equal(delivered.status, 200, 'the new endpoint\'s secret verifies');
  });

  it('reports a wrong URL and missing event types, and repair sets both right (keeping the endpoint\'s other types)', async () => {
    const { accountId, connection } = await connected();
    const endpoint = fake.endpoints.get(connection.webhookEndpointId)!;
    endpoint.url = 'https://old-host.example.test/hooks';
    endpoint.events = ['customer.created', ...SUBSCRIBED_EVENT_TYPES.filter((type) => !type.startsWith('refund.'))];
    const found = await check(accountId);
    assert.deepEqual(found.problems.map((p: { code: string }) => p.code), ['wrong_url', 'missing_event_types']);
    assert.match(JSON.stringify(found.problems), /refund\.created, refund\.updated, refund\.failed/);

    const repaired = await repair(accountId);
    assert.equal(repaired.body.action, 'updated');
    assert.equal(endpoint.url, `${PUBLIC_BASE_URL}/webhooks/stripe/${accountId}`);
    assert.ok(SUBSCRIBED_EVENT_TYPES.every((type) => endpoint.events.includes(type)));
    assert.ok(endpoint.events.includes('customer.created'));
    assert.equal(repaired.body.webhookEndpoint.status, 'ok');
  });

  it('watches an endpoint the merchant made and names (webhookEndpointId with its webhookSecret), and never deletes it', async () => {
    const secretKey = `sk_test_51H${randomBytes(10).toString('hex')}`;
    const stripeAccount = fake.addAccount({ keys: [secretKey] });
    const own = `we_own${randomBytes(6).toString('hex')}`;
    const account = await t.http.post('/api/accounts').set(auth).send({ name: 'Own endpoint' }).expect(201);
    const accountId = account.body.id as string;
    fake.endpoints.set(own, { url: `${PUBLIC_BASE_URL}/webhooks/stripe/${accountId}`, events: ['*'], secret: 'whsec_own', deleted: false, apiVersion: null, status: 'disabled', account: stripeAccount.id });

    const noSecret = await t.http.put(`/api/accounts/${accountId}/stripe`).set(auth).send({ secretKey, webhookEndpointId: own });
    assert.deepEqual([noSecret.status, noSecret.body.error.code], [400, 'webhook_endpoint_id_without_secret']);
    const badId = await t.http.put(`/api/accounts/${accountId}/stripe`).set(auth).send({ secretKey, webhookSecret: 'whsec_ownSecret123', webhookEndpointId: 'whsec_oops' });
    assert.deepEqual([badId.status, badId.body.error.code], [400, 'invalid_webhook_endpoint_id']);

    const res = await t.http.put(`/api/accounts/${accountId}/stripe`).set(auth).send({ secretKey, webhookSecret: 'whsec_ownSecret123', webhookEndpointId: own }).expect(200);
    assert.deepEqual([res.body.webhookEndpointId, res.body.webhookEndpointManaged], [own, false]);
    assert.deepEqual((await check(accountId)).problems.map((p: { code: string }) => p.code), ['disabled'], "'*' sends every type");
    assert.equal((await repair(accountId)).body.action, 'reenabled');
    await t.http.delete(`/api/accounts/${accountId}/stripe`).set(auth).expect(204);
    assert.equal(fake.endpoints.get(own)!.deleted, false, "the merchant's endpoint is theirs");
  });

  it('says when no endpoint is known, and repair says how to name one', async () => {
    const { accountId, connection } = await connected({ webhookSecret: 'whsec_manualSecret123' });
    assert.equal(connection.webhookEndpoint.status, 'not_watched');
    const res = await repair(accountId);
    assert.deepEqual([res.status, res.body.error.code], [409, 'endpoint_not_watched']);
    assert.match(res.body.error.message, /webhookEndpointId/);
    const missing = await t.http.post('/api/accounts/ma_00000000000000000000/stripe/endpoint/repair').set(operator);
    assert.deepEqual([missing.status, missing.body.error.code], [404, 'account_not_found']);
  });
});
