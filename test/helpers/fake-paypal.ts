import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { randomBytes, randomUUID, sign, verify, type KeyObject, type X509Certificate } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { issue, issueTestCa, type TestCertificate } from './test-certificates.js';
import { paypalTime } from './paypal-events.js';
import { addOrderRoutes, FakeOrderBook, paypalError } from './fake-paypal-orders.js';
import { addEventListRoutes } from './fake-paypal-event-list.js';

export { paypalError };

/**
 * A small local stand-in for PayPal's REST API (PAYPAL_API_BASE), in the manner of fake-stripe.ts:
 *
 * - `POST /v1/oauth2/token`: client credentials in Basic auth, for the apps added with `addApp`.
 *   Which environment was asked is read from the Host header, as PayPal's two hosts tell it: the
 *   service's SDK client keeps PayPal's URLs and is only connected here (src/paypal/paypal-client.ts),
 *   so sandbox credentials sent to api-m.paypal.com get 401 `invalid_client`, as at PayPal. A request
 *   to this fake's own host name may take either environment.
 * - `/v1/notifications/webhooks`: create (https URLs only; one webhook per URL per app:
 *   WEBHOOK_URL_ALREADY_EXISTS; 10 per app: WEBHOOK_NUMBER_LIMIT_EXCEEDED), list, get, update
 *   (JSON patch of url and event_types), delete; per app, by bearer token.
 * - `POST /v1/notifications/verify-webhook-signature`: PayPal's check, done for real against the
 *   certificates this fake serves.
 * - `GET /v1/notifications/certs/:id`: the signing certificate, then its test CA, as a PEM chain.
 * - `GET /v1/notifications/webhooks-events`: the event notifications recorded with `recordEvent`,
 *   by time, type and page, with `next` links (fake-paypal-event-list.ts).
 * - orders, captures and refunds: fake-paypal-orders.ts.
 *
 * `deliver()` signs an event as PayPal signs a webhook delivery; tests post it to the service.
 * Every request is recorded; `unreachable` cuts connections; `delayMs` holds every answer.
 */

export type FakeMode = 'sandbox' | 'live';

export interface FakeApp {
  clientId: string;
  clientSecret: string;
  mode: FakeMode;
  /** PayPal's merchant id of the account the app belongs to. */
  merchantId: string;
}

export interface FakeWebhook {
  id: string;
  url: string;
  eventTypes: string[];
  /** The app (client id) it belongs to: another app's token gets a 404. */
  clientId: string;
}

export interface FakePaypalRequest {
  method: string;
  path: string;
  /** The path and query string. */
  url: string;
  /** The Host header: PayPal's host name for the SDK's requests. */
  host: string;
  body: unknown;
  /** The Basic-auth client id (token requests) or the bearer token's app. */
  clientId: string | null;
  /** PayPal-Request-Id, PayPal's idempotency key. */
  requestId: string | null;
  at: number;
}

export interface FakeSigningCertificate {
  id: string;
  url: string;
  key: KeyObject;
  cert: X509Certificate;
  /** What GET answers: the leaf, then the CA. */
  chain: string;
}

export interface DeliveryOptions {
  transmissionId?: string;
  /** When it was "transmitted" (now by default). */
  at?: Date;
  /** Another of this fake's certificates (an expired one…), or any URL. */
  certificate?: FakeSigningCertificate;
  certUrl?: string;
  /** Sign with this key instead of the certificate's (a forger's). */
  key?: KeyObject;
  algorithm?: string;
}

export interface Delivery {
  body: string;
  headers: Record<string, string>;
}

type Answer = { status?: number; body?: unknown; text?: string; contentType?: string } | undefined;
type Route = { method: string; pattern: RegExp; handler: (req: FakePaypalRequest, app: FakeApp | null) => Answer };

const PAYPAL_HOSTS: Record<string, FakeMode> = {
  'api-m.paypal.com': 'live',
  'api.paypal.com': 'live',
  'api-m.sandbox.paypal.com': 'sandbox',
  'api.sandbox.paypal.com': 'sandbox',
};

export class FakePaypal {
  readonly requests: FakePaypalRequest[] = [];
  readonly apps: FakeApp[] = [];
  readonly webhooks = new Map<string, FakeWebhook>();
  readonly orders = new FakeOrderBook();
  /** Every certificate this fake serves, by URL. */
  readonly certificates = new Map<string, FakeSigningCertificate>();
  /** The one deliveries are signed with unless a test says otherwise. */
  signing!: FakeSigningCertificate;
  /** While true, every connection is cut at once (PayPal unreachable). */
  unreachable = false;
  /** Every answer waits this long (PayPal slow). */
  delayMs = 0;
  /** The event notifications each app's listing shows (by client id): `recordEvent`. */
  readonly events = new Map<string, Record<string, unknown>[]>();
  /** The origin of the listing's `next` links; this fake's URL unless set (PayPal's host, another host). */
  eventLinkBase?: string;
  url = '';
  private readonly tokens = new Map<string, FakeApp>();
  private readonly routes: Route[] = [];
  private readonly sockets = new Set<Socket>();
  private server?: http.Server;
  private ca!: TestCertificate;

  addApp(app: Partial<FakeApp> & { mode: FakeMode }): FakeApp {
    const full: FakeApp = {
      clientId: `A${randomBytes(30).toString('base64url')}`,
      clientSecret: `E${randomBytes(30).toString('base64url')}`,
      merchantId: randomBytes(7).toString('hex').toUpperCase(),
      ...app,
    };
    this.apps.push(full);
    return full;
  }

  /**
   * An event notification PayPal keeps for the app, listed by GET /v1/notifications/webhooks-events
   * (fake-paypal-event-list.ts) whether or not it was delivered (`deliver` is separate).
   */
  recordEvent(app: FakeApp, event: Record<string, unknown>): void {
    const events = this.events.get(app.clientId) ?? [];
    events.push(event);
    this.events.set(app.clientId, events);
  }

  /** Adds a route; the latest added wins. A handler returning undefined passes to the next route. */
  route(method: string, pattern: RegExp, handler: Route['handler']): void {
    this.routes.unshift({ method, pattern, handler });
  }

  /**
   * A signing certificate this fake serves at its own `/v1/notifications/certs/CERT-…`: issued by
   * the fake's test CA to PayPal's sandbox signing name unless said otherwise (an expired one, one
   * in another name, a self-signed one).
   */
  issueCertificate(options: { commonName?: string; notBefore?: Date; notAfter?: Date; selfSigned?: boolean } = {}): FakeSigningCertificate {
    const leaf = issue({
      commonName: options.commonName ?? 'messageverificationcerts.sandbox.paypal.com',
      organization: 'PayPal, Inc.',
      notBefore: options.notBefore,
      notAfter: options.notAfter,
      issuer: options.selfSigned ? undefined : this.ca,
    });
    const id = `CERT-${randomBytes(4).toString('hex')}-${randomBytes(4).toString('hex')}-${randomBytes(4).toString('hex')}`;
    const certificate = { id, url: `${this.url}/v1/notifications/certs/${id}`, key: leaf.key, cert: leaf.cert, chain: options.selfSigned ? leaf.pem : leaf.pem + this.ca.pem };
    this.certificates.set(certificate.url, certificate);
    return certificate;
  }

  /**
   * A webhook delivery as PayPal makes it: the event's JSON as the body, signed over
   * `<transmission id>|<transmission time>|<webhook id>|<CRC32 of the body, decimal>` with
   * RSA-SHA256 by the signing certificate's key.
   */
  deliver(webhookId: string, event: unknown, options: DeliveryOptions = {}): Delivery {
    const body = typeof event === 'string' ? event : JSON.stringify(event);
    const certificate = options.certificate ?? this.signing;
    const transmissionId = options.transmissionId ?? randomUUID();
    const transmissionTime = paypalTime(options.at);
    const signed = `${transmissionId}|${transmissionTime}|${webhookId}|${crc32(Buffer.from(body, 'utf8'))}`;
    return {
      body,
      headers: {
        'content-type': 'application/json',
        'paypal-transmission-id': transmissionId,
        'paypal-transmission-time': transmissionTime,
        'paypal-transmission-sig': sign('sha256', Buffer.from(signed, 'utf8'), options.key ?? certificate.key).toString('base64'),
        'paypal-cert-url': options.certUrl ?? certificate.url,
        'paypal-auth-algo': options.algorithm ?? 'SHA256withRSA',
        'paypal-auth-version': 'v2',
      },
    };
  }

  /** The app a token request's Basic credentials name, if they are right for the environment asked. */
  private appForBasic(authorization: string, host: string): FakeApp | undefined {
    if (!authorization.startsWith('Basic ')) return undefined;
    const decoded = Buffer.from(authorization.slice(6), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const [clientId, secret] = [decoded.slice(0, colon), decoded.slice(colon + 1)];
    const asked = PAYPAL_HOSTS[host.split(':')[0]!];
    return this.apps.find((app) => app.clientId === clientId && app.clientSecret === secret && (asked === undefined || asked === app.mode));
  }

  async start(): Promise<void> {
    this.ca = issueTestCa('Billed Test PayPal CA');
    this.server = http.createServer((req, res) => void this.handle(req, res));
    this.server.on('connection', (socket) => {
      if (this.unreachable) return socket.destroy();
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    this.signing = this.issueCertificate();
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.unreachable) return void req.socket.destroy();
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://fake');
    const host = req.headers.host ?? '';
    const authorization = req.headers.authorization ?? '';
    const isForm = (req.headers['content-type'] ?? '').includes('application/x-www-form-urlencoded');
    let body: unknown;
    try {
      body = isForm ? Object.fromEntries(new URLSearchParams(raw)) : raw ? JSON.parse(raw) : null;
    } catch {
      body = raw; // not JSON: the routes answer it as PayPal does a malformed request
    }
    const bearerApp = authorization.startsWith('Bearer ') ? this.tokens.get(authorization.slice(7)) : undefined;
    const request: FakePaypalRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      url: `${url.pathname}${url.search}`,
      host,
      body,
      clientId: bearerApp?.clientId ?? null,
      requestId: (req.headers['paypal-request-id'] as string | undefined) ?? null,
      at: Date.now(),
    };
    this.requests.push(request);
    if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    const send = (answer: NonNullable<Answer>) => {
      if (res.destroyed) return;
      const status = answer.status ?? 200;
      if (answer.text !== undefined) {
        res.writeHead(status, { 'content-type': answer.contentType ?? 'text/plain', 'paypal-debug-id': randomBytes(6).toString('hex') });
        return void res.end(answer.text);
      }
      res.writeHead(status, status === 204 ? {} : { 'content-type': 'application/json', 'paypal-debug-id': randomBytes(6).toString('hex') });
      res.end(status === 204 ? undefined : JSON.stringify(answer.body));
    };

    if (request.method === 'POST' && request.path === '/v1/oauth2/token') {
      const app = this.appForBasic(authorization, host);
      request.clientId = app?.clientId ?? null;
      if (!app) return send({ status: 401, body: { error: 'invalid_client', error_description: 'Client Authentication failed' } });
      if ((body as { grant_type?: string } | null)?.grant_type !== 'client_credentials') {
        return send({ status: 400, body: { error: 'unsupported_grant_type', error_description: 'Grant Type is NULL' } });
      }
      const token = `A21AA${randomBytes(24).toString('base64url')}`;
      this.tokens.set(token, app);
      return send({ body: { scope: 'https://uri.paypal.com/services/payments/payment', access_token: token, token_type: 'Bearer', app_id: `APP-${app.clientId.slice(1, 17)}`, expires_in: 32400, nonce: randomBytes(8).toString('hex') } });
    }
    // The certificates are public, as PayPal's are.
    const certificate = request.method === 'GET' ? this.certificates.get(`${this.url}${request.path}`) : undefined;
    if (certificate) return send({ text: certificate.chain, contentType: 'application/x-pem-file' });
    if (request.path.startsWith('/v1/notifications/certs/')) return send(paypalError(404, 'RESOURCE_NOT_FOUND', 'The specified resource does not exist.'));
    if (!bearerApp) return send({ status: 401, body: { error: 'invalid_token', error_description: 'Token signature verification failed' } });

    for (const route of this.routes) {
      if (route.method !== request.method || !route.pattern.test(request.path)) continue;
      const answer = route.handler(request, bearerApp);
      if (answer) return send(answer);
    }
    send(paypalError(404, 'RESOURCE_NOT_FOUND', `The specified resource does not exist (${request.method} ${request.path}).`));
  }
}

const webhookView = (webhook: FakeWebhook, base: string) => ({
  id: webhook.id,
  url: webhook.url,
  event_types: webhook.eventTypes.map((name) => ({ name, description: name.toLowerCase(), status: 'ENABLED' })),
  links: [
    { href: `${base}/v1/notifications/webhooks/${webhook.id}`, rel: 'self', method: 'GET' },
    { href: `${base}/v1/notifications/webhooks/${webhook.id}`, rel: 'update', method: 'PATCH' },
    { href: `${base}/v1/notifications/webhooks/${webhook.id}`, rel: 'delete', method: 'DELETE' },
  ],
});

function addWebhookRoutes(fake: FakePaypal): void {
  const invalidUrl = (url: unknown) => {
    try {
      return typeof url !== 'string' || new URL(url).protocol !== 'https:';
    } catch {
      return true;
    }
  };
  const eventTypesOf = (value: unknown): string[] | null =>
    Array.isArray(value) && value.length > 0 && value.every((t) => typeof (t as { name?: unknown })?.name === 'string') ? value.map((t) => (t as { name: string }).name) : null;
  const own = (req: FakePaypalRequest) => {
    const webhook = fake.webhooks.get(req.path.split('/')[4] ?? '');
    return webhook && webhook.clientId === req.clientId ? webhook : undefined;
  };
  const missing = () => paypalError(404, 'INVALID_RESOURCE_ID', 'Resource id is invalid.');

  fake.route('POST', /^\/v1\/notifications\/webhooks$/, (req) => {
    const { url, event_types } = (req.body ?? {}) as { url?: unknown; event_types?: unknown };
    const eventTypes = eventTypesOf(event_types);
    if (invalidUrl(url)) return paypalError(400, 'VALIDATION_ERROR', 'Invalid data provided', [{ field: 'url', issue: 'The URL must be an https URL.' }]);
    if (!eventTypes) return paypalError(400, 'VALIDATION_ERROR', 'Invalid data provided', [{ field: 'event_types', issue: 'At least one event type is required.' }]);
    const mine = [...fake.webhooks.values()].filter((w) => w.clientId === req.clientId);
    if (mine.some((w) => w.url === url)) return paypalError(400, 'WEBHOOK_URL_ALREADY_EXISTS', 'Webhook URL already exists');
    if (mine.length >= 10) return paypalError(400, 'WEBHOOK_NUMBER_LIMIT_EXCEEDED', 'Max number of webhooks exceeded');
    const webhook: FakeWebhook = { id: `${randomBytes(8).toString('hex').toUpperCase()}${randomBytes(1).toString('hex').toUpperCase()}`, url: url as string, eventTypes, clientId: req.clientId! };
    fake.webhooks.set(webhook.id, webhook);
    return { status: 201, body: webhookView(webhook, fake.url) };
  });
  fake.route('GET', /^\/v1\/notifications\/webhooks$/, (req) => ({
    body: { webhooks: [...fake.webhooks.values()].filter((w) => w.clientId === req.clientId).map((w) => webhookView(w, fake.url)) },
  }));
  fake.route('GET', /^\/v1\/notifications\/webhooks\/\w+$/, (req) => {
    const webhook = own(req);
    return webhook ? { body: webhookView(webhook, fake.url) } : missing();
  });
  // PayPal takes a JSON patch: [{op: "replace", path: "/url" | "/event_types", value}].
  fake.route('PATCH', /^\/v1\/notifications\/webhooks\/\w+$/, (req) => {
    const webhook = own(req);
    if (!webhook) return missing();
    const operations = Array.isArray(req.body) ? (req.body as { op?: string; path?: string; value?: unknown }[]) : [];
    if (operations.length === 0) return paypalError(400, 'VALIDATION_ERROR', 'Invalid data provided', [{ issue: 'Expected a JSON patch array.' }]);
    for (const { op, path, value } of operations) {
      if (op === 'replace' && path === '/url' && !invalidUrl(value)) webhook.url = value as string;
      else if (op === 'replace' && path === '/event_types' && eventTypesOf(value)) webhook.eventTypes = eventTypesOf(value)!;
      else return paypalError(400, 'VALIDATION_ERROR', 'Invalid data provided', [{ field: path, issue: `Cannot ${op} ${path}.` }]);
    }
    return { body: webhookView(webhook, fake.url) };
  });
  fake.route('DELETE', /^\/v1\/notifications\/webhooks\/\w+$/, (req) => {
    const webhook = own(req);
    if (!webhook) return missing();
    fake.webhooks.delete(webhook.id);
    return { status: 204 };
  });
  // PayPal's own check of a delivery: the event as JSON (PayPal re-serialises it; this fake's events
  // come back byte for byte), the certificate named, the webhook id; SUCCESS or FAILURE.
  fake.route('POST', /^\/v1\/notifications\/verify-webhook-signature$/, (req) => {
    const b = (req.body ?? {}) as Record<string, unknown>;
    for (const field of ['auth_algo', 'cert_url', 'transmission_id', 'transmission_sig', 'transmission_time', 'webhook_id', 'webhook_event']) {
      if (b[field] === undefined || b[field] === '') return paypalError(400, 'VALIDATION_ERROR', 'Invalid data provided', [{ field, issue: 'MISSING_REQUIRED_PARAMETER' }]);
    }
    const certificate = fake.certificates.get(String(b.cert_url));
    const webhook = fake.webhooks.get(String(b.webhook_id));
    const body = Buffer.from(JSON.stringify(b.webhook_event), 'utf8');
    const signed = `${String(b.transmission_id)}|${String(b.transmission_time)}|${String(b.webhook_id)}|${crc32(body)}`;
    const ok =
      certificate !== undefined &&
      webhook?.clientId === req.clientId &&
      String(b.auth_algo) === 'SHA256withRSA' &&
      verify('sha256', Buffer.from(signed, 'utf8'), certificate.cert.publicKey, Buffer.from(String(b.transmission_sig), 'base64'));
    return { body: { verification_status: ok ? 'SUCCESS' : 'FAILURE' } };
  });
}

/** A started fake PayPal: tokens, webhooks, event notifications, signature checks, certificates, orders, captures and refunds. */
export async function startFakePaypal(): Promise<FakePaypal> {
  const fake = new FakePaypal();
  addWebhookRoutes(fake);
  addEventListRoutes(fake);
  addOrderRoutes(fake);
  await fake.start();
  return fake;
}
