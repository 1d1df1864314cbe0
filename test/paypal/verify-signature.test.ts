import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { startFakePaypal, type FakePaypal } from '../helpers/fake-paypal.js';
import { captureResource, paypalEvent } from '../helpers/paypal-events.js';
import { createPaypalSignatureVerifier, signedString, PAYPAL_SIGNATURE_HEADERS, type PaypalSignatureVerifier } from '../../src/paypal/verify-signature.js';
import { createCertificateCache } from '../../src/paypal/signing-certificates.js';
import { signatureVerifierFor } from '../../src/paypal/paypal.services.js';
import { AppError } from '../../src/shared/errors.js';
import { ConfigError, loadConfig } from '../../config/env.schema.js';

const WEBHOOK_ID = '8PT597110X687430LKGECATA';
const PREVIOUS_WEBHOOK_ID = '2WX12345AB678901CDEFGHIJ';

/** What the service answers a delivery: the AppError's status, code and message. */
async function refusal(promise: Promise<unknown>): Promise<{ status: number; code: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof AppError, `expected an AppError, got ${String(error)}`);
    return { status: error.status, code: error.code, message: error.message };
  }
  assert.fail('the delivery was accepted');
}

describe('PayPal webhook signatures, verified offline', () => {
  let fake: FakePaypal;
  let verifier: PaypalSignatureVerifier;
  const event = () => paypalEvent('PAYMENT.CAPTURE.COMPLETED', captureResource({ value: '10.99', customId: 'inv_0123456789abcdef01234567' }));
  const verify = (delivery: { body: string; headers: Record<string, string> }, webhookIds: string[] = [WEBHOOK_ID], v = verifier) =>
    v.verify(Buffer.from(delivery.body, 'utf8'), delivery.headers, webhookIds);
  const certFetches = () => fake.requests.filter((r) => r.path.startsWith('/v1/notifications/certs/')).length;

  before(async () => {
    fake = await startFakePaypal();
  });
  beforeEach(() => {
    verifier = createPaypalSignatureVerifier({ apiBase: fake.url });
  });
  after(() => fake.stop());

  it('signs over "<transmission id>|<time>|<webhook id>|<CRC32 of the raw body, unsigned decimal>"', () => {
    // CRC-32's check value: "123456789" → 0xCBF43926, above 2^31, so a signed reading would be negative.
    assert.equal(signedString('69cd13f0-d67a-11e5-baa3-778b53f4ae55', '2026-11-30T10:00:00Z', WEBHOOK_ID, Buffer.from('123456789')), `69cd13f0-d67a-11e5-baa3-778b53f4ae55|2026-11-30T10:00:00Z|${WEBHOOK_ID}|3421780262`);
  });

  it('accepts a delivery PayPal signed for the account\'s webhook, and hands back the event', async () => {
    const sent = event();
    const delivery = fake.deliver(WEBHOOK_ID, sent);
    const verified = await verify(delivery);
    assert.deepEqual(verified.event, sent);
    assert.equal(verified.webhookId, WEBHOOK_ID);
    assert.equal(verified.transmissionId, delivery.headers['paypal-transmission-id']);
  });

  it('accepts one signed for the previous webhook id while it is still listed (a roll), and says which', async () => {
    const verified = await verify(fake.deliver(PREVIOUS_WEBHOOK_ID, event()), [WEBHOOK_ID, PREVIOUS_WEBHOOK_ID]);
    assert.equal(verified.webhookId, PREVIOUS_WEBHOOK_ID);
  });

  for (const header of PAYPAL_SIGNATURE_HEADERS) {
    it(`refuses a delivery without ${header.toUpperCase()}, naming it`, async () => {
      const delivery = fake.deliver(WEBHOOK_ID, event());
      delete delivery.headers[header];
      const answer = await refusal(verify(delivery));
      assert.deepEqual([answer.status, answer.code], [400, 'signature_invalid']);
      assert.match(answer.message, new RegExp(`^Missing ${header.toUpperCase()} header`));
    });
  }

  it('refuses an algorithm other than SHA256withRSA', async () => {
    const answer = await refusal(verify(fake.deliver(WEBHOOK_ID, event(), { algorithm: 'SHA1withRSA' })));
    assert.deepEqual([answer.status, answer.code], [400, 'signature_invalid']);
    assert.match(answer.message, /Unknown PAYPAL-AUTH-ALGO "SHA1withRSA": PayPal signs with SHA256withRSA/);
  });

  for (const [what, certUrl, reason] of [
    ['another host', 'https://paypal.com.evil.example/v1/notifications/certs/CERT-1', /not PayPal's: certificates are taken only over https from api\.paypal\.com/],
    ['PayPal\'s host over plain http', 'http://api.paypal.com/v1/notifications/certs/CERT-1', /not PayPal's/],
    ['PayPal\'s host on another port', 'https://api.paypal.com:8443/v1/notifications/certs/CERT-1', /not PayPal's/],
    ['another path on PayPal\'s host', 'https://api-m.paypal.com/v1/oauth2/token', /not one of PayPal's certificate addresses/],
    ['PayPal\'s certificate path with a query', 'https://api.sandbox.paypal.com/v1/notifications/certs/CERT-1?x=https://evil.example', /not one of PayPal's certificate addresses/],
    ['something that is not a URL', 'CERT-360caa42', /is not a URL/],
  ] as const) {
    it(`refuses a certificate named at ${what}, without fetching it`, async () => {
      const before = fake.requests.length;
      const answer = await refusal(verify(fake.deliver(WEBHOOK_ID, event(), { certUrl })));
      assert.deepEqual([answer.status, answer.code], [400, 'signature_invalid']);
      assert.match(answer.message, reason);
      assert.equal(fake.requests.length, before, 'nothing was fetched');
    });
  }

  it('refuses a certificate that has expired', async () => {
    const expired = fake.issueCertificate({ notBefore: new Date(Date.now() - 48 * 3600_000), notAfter: new Date(Date.now() - 3600_000) });
    const answer = await refusal(verify(fake.deliver(WEBHOOK_ID, event(), { certificate: expired })));
    assert.deepEqual([answer.status, answer.code], [400, 'signature_invalid']);
    assert.match(answer.message, /expired on/);
  });

  it('refuses a certificate not valid yet', async () => {
    const early = fake.issueCertificate({ notBefore: new Date(Date.now() + 3600_000) });
    assert.match((await refusal(verify(fake.deliver(WEBHOOK_ID, event(), { certificate: early })))).message, /is not valid yet/);
  });

  it('refuses a certificate issued to another name than PayPal\'s signing name', async () => {
    const other = fake.issueCertificate({ commonName: 'api.paypal.com' });
    const answer = await refusal(verify(fake.deliver(WEBHOOK_ID, event(), { certificate: other })));
    assert.deepEqual([answer.status, answer.code], [400, 'signature_invalid']);
    assert.match(answer.message, /issued to "api\.paypal\.com", not to PayPal's webhook signing name \(messageverificationcerts\.paypal\.com or messageverificationcerts\.sandbox\.paypal\.com\)/);
  });

  it('takes the signing name from configuration (a test CA), and then refuses PayPal\'s', async () => {
    const configured = createPaypalSignatureVerifier({ apiBase: fake.url, commonNames: ['billed-test-signer.invalid'] });
    const testName = fake.issueCertificate({ commonName: 'billed-test-signer.invalid' });
    await verify(fake.deliver(WEBHOOK_ID, event(), { certificate: testName }), [WEBHOOK_ID], configured);
    assert.match((await refusal(verify(fake.deliver(WEBHOOK_ID, event()), [WEBHOOK_ID], configured))).message, /not to PayPal's webhook signing name \(billed-test-signer\.invalid\)/);
  });

  it('is configured from PAYPAL_API_BASE and PAYPAL_CERT_COMMON_NAMES; without PAYPAL_API_BASE no certificate is taken from the fake', async () => {
    const configured = signatureVerifierFor(loadConfig({ PAYPAL_API_BASE: fake.url, PAYPAL_CERT_COMMON_NAMES: ' billed-test-signer.invalid , other.invalid ' }));
    await verify(fake.deliver(WEBHOOK_ID, event(), { certificate: fake.issueCertificate({ commonName: 'billed-test-signer.invalid' }) }), [WEBHOOK_ID], configured);
    assert.match((await refusal(verify(fake.deliver(WEBHOOK_ID, event()), [WEBHOOK_ID], configured))).message, /\(billed-test-signer\.invalid or other\.invalid\)/);
    const production = signatureVerifierFor(loadConfig({}));
    assert.match((await refusal(verify(fake.deliver(WEBHOOK_ID, event()), [WEBHOOK_ID], production))).message, /names a certificate at http:\/\/127\.0\.0\.1:\d+, which is not PayPal's/);
    assert.throws(() => loadConfig({ PAYPAL_CERT_COMMON_NAMES: 'CN=evil, O=x' }), (error: unknown) => error instanceof ConfigError && /PAYPAL_CERT_COMMON_NAMES must be host-like names/.test(error.message));
    assert.throws(() => loadConfig({ PAYPAL_API_BASE: 'api-m.paypal.com' }), (error: unknown) => error instanceof ConfigError && /PAYPAL_API_BASE must be a URL/.test(error.message));
  });

  it('refuses a body changed on the way (its CRC32 no longer matches)', async () => {
    const delivery = fake.deliver(WEBHOOK_ID, event());
    const answer = await refusal(verify({ ...delivery, body: delivery.body.replace('"10.99"', '"1099.00"') }));
    assert.deepEqual([answer.status, answer.code], [400, 'signature_invalid']);
    assert.match(answer.message, /The signature is PayPal's but not over this delivery: the body was changed on the way \(its CRC32 no longer matches\)/);
  });

  it('refuses a delivery signed for another webhook (another merchant\'s)', async () => {
    const answer = await refusal(verify(fake.deliver('9XY00000AB000000CDEFGHIJ', event())));
    assert.match(answer.message, /signed for another webhook than this account's/);
  });

  it('refuses a signature made with another key than the certificate\'s (a forger naming PayPal\'s certificate)', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const answer = await refusal(verify(fake.deliver(WEBHOOK_ID, event(), { key: privateKey })));
    assert.deepEqual([answer.status, answer.code], [400, 'signature_invalid']);
    assert.match(answer.message, /The signature does not match: it was not made with the key of the certificate at http:\/\/127\.0\.0\.1:\d+\/v1\/notifications\/certs\/CERT-/);
  });

  it('refuses a signature that is not base64', async () => {
    const delivery = fake.deliver(WEBHOOK_ID, event());
    delivery.headers['paypal-transmission-sig'] = 'not base64!';
    assert.match((await refusal(verify(delivery))).message, /PAYPAL-TRANSMISSION-SIG is not base64/);
  });

  it('refuses a delivery transmitted more than 300 s ago (a replay), or as far in the future', async () => {
    const old = await refusal(verify(fake.deliver(WEBHOOK_ID, event(), { at: new Date(Date.now() - 301_000) })));
    assert.deepEqual([old.status, old.code], [400, 'signature_invalid']);
    assert.match(old.message, /more than 300 s ago: a replayed delivery, or this server's clock is wrong/);
    assert.match((await refusal(verify(fake.deliver(WEBHOOK_ID, event(), { at: new Date(Date.now() + 301_000) })))).message, /more than 300 s from now: check this server's clock/);
    // Within the window: fine.
    await verify(fake.deliver(WEBHOOK_ID, event(), { at: new Date(Date.now() - 250_000) }));
  });

  it('refuses a transmission time that is not a date-time', async () => {
    const delivery = fake.deliver(WEBHOOK_ID, event());
    delivery.headers['paypal-transmission-time'] = 'yesterday';
    assert.match((await refusal(verify(delivery))).message, /PAYPAL-TRANSMISSION-TIME "yesterday" is not a date-time/);
  });

  it('refuses a certificate PayPal does not have (404), and does not ask again for a minute', async () => {
    const certUrl = `${fake.url}/v1/notifications/certs/CERT-made-up`;
    const first = await refusal(verify(fake.deliver(WEBHOOK_ID, event(), { certUrl })));
    assert.deepEqual([first.status, first.code], [400, 'signature_invalid']);
    assert.match(first.message, /has no certificate at .*CERT-made-up \(HTTP 404\)/);
    const fetched = certFetches();
    await refusal(verify(fake.deliver(WEBHOOK_ID, event(), { certUrl })));
    assert.equal(certFetches(), fetched);
  });

  it('answers 503 paypal_certificate_unavailable (PayPal retries) when the certificate cannot be fetched', async () => {
    fake.unreachable = true;
    try {
      const answer = await refusal(verify(fake.deliver(WEBHOOK_ID, event())));
      assert.deepEqual([answer.status, answer.code], [503, 'paypal_certificate_unavailable']);
      assert.match(answer.message, /nothing was stored\. PayPal retries the delivery/);
    } finally {
      fake.unreachable = false;
    }
    // Not remembered: once PayPal answers, the delivery verifies.
    await verify(fake.deliver(WEBHOOK_ID, event()));
  });

  it('fetches a certificate once for many deliveries, concurrent ones included', async () => {
    const before = certFetches();
    await Promise.all(Array.from({ length: 5 }, () => verify(fake.deliver(WEBHOOK_ID, event()))));
    await verify(fake.deliver(WEBHOOK_ID, event()));
    assert.equal(certFetches() - before, 1);
  });

  it('keeps a bounded number of certificates, the least recently used leaving first', async () => {
    const certificates = createCertificateCache({ apiBase: fake.url, maxEntries: 2 });
    const bounded = createPaypalSignatureVerifier({ certificates });
    const [a, b, c] = [fake.issueCertificate(), fake.issueCertificate(), fake.issueCertificate()];
    const fetchesOf = (url: string) => fake.requests.filter((r) => `${fake.url}${r.path}` === url).length;
    for (const certificate of [a, b, a, c]) await verify(fake.deliver(WEBHOOK_ID, event(), { certificate }), [WEBHOOK_ID], bounded);
    assert.equal(certificates.size(), 2);
    await verify(fake.deliver(WEBHOOK_ID, event(), { certificate: a }), [WEBHOOK_ID], bounded); // kept: used after b
    assert.equal(fetchesOf(a.url), 1);
    await verify(fake.deliver(WEBHOOK_ID, event(), { certificate: b }), [WEBHOOK_ID], bounded); // dropped for c: fetched again
    assert.equal(fetchesOf(b.url), 2);
  });

  it('answers 400 payload_invalid for a signed body that is not a PayPal event', async () => {
    for (const body of ['not json', '[]', '{"id":"WH-1"}']) {
      const answer = await refusal(verify(fake.deliver(WEBHOOK_ID, body)));
      assert.deepEqual([answer.status, answer.code], [400, 'payload_invalid'], body);
    }
  });

  it('answers 503 webhook_not_configured when the account has no webhook id', async () => {
    const answer = await refusal(verify(fake.deliver(WEBHOOK_ID, event()), []));
    assert.deepEqual([answer.status, answer.code], [503, 'webhook_not_configured']);
    assert.match(answer.message, /connect PayPal again with PUBLIC_BASE_URL set/);
  });

  describe('the fake\'s verify-webhook-signature API (PayPal\'s own check)', () => {
    it('agrees with the offline check: SUCCESS for a delivery as signed, FAILURE once the event or the webhook id differ', async () => {
      const app = fake.addApp({ mode: 'sandbox' });
      const token = await fetch(`${fake.url}/v1/oauth2/token`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${app.clientId}:${app.clientSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials',
      }).then(async (r) => ((await r.json()) as { access_token: string }).access_token);
      const webhook = await fetch(`${fake.url}/v1/notifications/webhooks`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ url: 'https://billing.example.test/webhooks/paypal/ma_00000000000000000000', event_types: [{ name: 'PAYMENT.CAPTURE.COMPLETED' }] }),
      }).then(async (r) => ((await r.json()) as { id: string }).id);
      const ask = async (delivery: { body: string; headers: Record<string, string> }, webhookId: string, tamper = false) => {
        const h = delivery.headers;
        const webhookEvent = JSON.parse(delivery.body) as Record<string, unknown>;
        if (tamper) webhookEvent.summary = 'changed';
        const res = await fetch(`${fake.url}/v1/notifications/verify-webhook-signature`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({
            auth_algo: h['paypal-auth-algo'],
            cert_url: h['paypal-cert-url'],
            transmission_id: h['paypal-transmission-id'],
            transmission_sig: h['paypal-transmission-sig'],
            transmission_time: h['paypal-transmission-time'],
            webhook_id: webhookId,
            webhook_event: webhookEvent,
          }),
        });
        return ((await res.json()) as { verification_status: string }).verification_status;
      };
      const delivery = fake.deliver(webhook, event());
      await verify(delivery, [webhook]);
      assert.equal(await ask(delivery, webhook), 'SUCCESS');
      assert.equal(await ask(delivery, webhook, true), 'FAILURE');
      assert.equal(await ask(delivery, WEBHOOK_ID), 'FAILURE');
    });
  });
});
