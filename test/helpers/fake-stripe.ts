import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { addEventListRoute, FakeEventLog } from './fake-stripe-events.js';
import { addObjectListRoutes, FakeObjectLists } from './fake-stripe-lists.js';

/**
 * A small local stand-in for Stripe's API that stripe-node is pointed at
 * (STRIPE_API_BASE). It knows a set of keys, answers 401 for any other, can
 * pretend to be unreachable, and records every request. Tests add routes with
 * `route()`; form bodies are parsed into flat `a[b][c]` keys as Stripe sends them.
 */
export interface FakeRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  form: Record<string, string>;
  apiKey: string | null;
  idempotencyKey: string | null;
  /** When it arrived (Date.now()). */
  at: number;
}

export type FakeHandler = (req: FakeRequest) => { status?: number; body: unknown } | undefined;

export interface FakeAccount {
  id: string;
  charges_enabled: boolean;
  /** Keys Stripe accepts for this account. */
  keys: string[];
}

export class FakeStripe {
  readonly requests: FakeRequest[] = [];
  private readonly routes: { method: string; pattern: RegExp; handler: FakeHandler }[] = [];
  private readonly accounts: FakeAccount[] = [];
  private readonly sockets = new Set<Socket>();
  private server?: http.Server;
  /** While true, every connection is cut at once (Stripe unreachable). */
  unreachable = false;
  url = '';
  /** Requests to paths matching `path` answered 429 (Stripe's rate limit), while `remaining` lasts. */
  private rateLimit: { path: RegExp; remaining: number } = { path: /^$/, remaining: 0 };
  /** How many requests got a 429. */
  rateLimitedCount = 0;

  /** Stripe's "Too many requests" for the next `count` requests to `path` (default: the event list). */
  rateLimitNext(count: number, path = /^\/v1\/events$/): void {
    this.rateLimit = { path, remaining: count };
  }

  addAccount(account: Partial<FakeAccount> & { keys: string[] }): FakeAccount {
    const full = { id: `acct_${randomBytes(8).toString('hex')}`, charges_enabled: true, ...account };
    this.accounts.push(full);
    return full;
  }

  accountForKey(key: string | null): FakeAccount | undefined {
    return this.accounts.find((a) => key !== null && a.keys.includes(key));
  }

  /** Adds a route; the latest added wins. A handler returning undefined passes to the next route. */
  route(method: string, pattern: RegExp, handler: FakeHandler): void {
    this.routes.unshift({ method, pattern, handler });
  }

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    this.server.on('connection', (socket) => {
      if (this.unreachable) return socket.destroy();
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.unreachable) return void req.socket.destroy();
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = new URL(req.url ?? '/', 'http://fake');
    const auth = req.headers.authorization ?? '';
    const request: FakeRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      form: Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))),
      apiKey: auth.startsWith('Bearer ') ? auth.slice(7) : null,
      idempotencyKey: (req.headers['idempotency-key'] as string | undefined) ?? null,
      at: Date.now(),
    };
    this.requests.push(request);
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json', 'request-id': `req_${randomBytes(6).toString('hex')}` });
      res.end(JSON.stringify(body));
    };
    if (!this.accountForKey(request.apiKey)) {
      return send(401, {
        error: { type: 'invalid_request_error', code: 'api_key_invalid', message: `Invalid API Key provided: ${(request.apiKey ?? '').slice(0, 8)}****` },
      });
    }
    if (this.rateLimit.remaining > 0 && this.rateLimit.path.test(request.path)) {
      this.rateLimit.remaining -= 1;
      this.rateLimitedCount += 1;
      // As Stripe answers it: no Stripe-Should-Retry header (stripe-node does not retry it by itself).
      return send(429, {
        error: { type: 'invalid_request_error', code: 'rate_limit', message: 'Too many requests hit the API too quickly. We recommend an exponential backoff of your requests.' },
      });
    }
    for (const route of this.routes) {
      if (route.method !== request.method || !route.pattern.test(request.path)) continue;
      const answer = route.handler(request);
      if (answer) return send(answer.status ?? 200, answer.body);
    }
    send(404, { error: { type: 'invalid_request_error', message: `Unrecognized request URL (${request.method}: ${request.path})` } });
  }
}

/** A webhook endpoint as the fake keeps it: tests flip `status` (Stripe disabling it) or `deleted` (the Dashboard). */
export interface FakeEndpoint {
  url: string;
  events: string[];
  secret: string;
  deleted: boolean;
  apiVersion: string | null;
  status?: 'enabled' | 'disabled';
  /** The Stripe account it belongs to: another account's key gets a 404. */
  account?: string;
}

/** A PaymentIntent as the fake keeps it: tests move `status` as a payer (or Stripe) would. */
export interface FakePaymentIntent {
  id: string;
  object: 'payment_intent';
  amount: number;
  currency: string;
  metadata: Record<string, string>;
  status: string;
  client_secret: string;
  livemode: boolean;
  canceled_at: number | null;
  created: number;
  /** The Stripe account it belongs to: another account's key gets a 404. */
  account: string;
}

/**
 * A fake answering GET /v1/account for the key's account, webhook endpoint
 * create/retrieve/update/delete (recorded in `endpoints`), the account's event list
 * (GET /v1/events, paginated and filtered as Stripe does, from `events`), the account's PaymentIntents,
 * charges, refunds, disputes and payouts (GET /v1/<path>, likewise, from `lists`), PaymentIntent create (honouring
 * Idempotency-Key as Stripe does: same key → same PaymentIntent), retrieve and
 * cancel (only from a cancelable status, as Stripe), kept in `paymentIntents`,
 * and the retrieval of the objects a test puts in `objects`.
 */
export async function startFakeStripe(): Promise<
  FakeStripe & {
    endpoints: Map<string, FakeEndpoint>;
    objects: Map<string, unknown>;
    paymentIntents: Map<string, FakePaymentIntent>;
    events: FakeEventLog;
    lists: FakeObjectLists;
  }
> {
  const fake = Object.assign(new FakeStripe(), {
    endpoints: new Map<string, FakeEndpoint>(),
    /** Every account's events, listed by GET /v1/events (test/helpers/fake-stripe-events.ts). */
    events: new FakeEventLog(),
    /** Every account's PaymentIntents, charges, refunds, disputes and payouts, listed by GET /v1/<path> (test/helpers/fake-stripe-lists.ts). */
    lists: new FakeObjectLists(),
    /** Objects GET /v1/{charges,refunds,disputes,payment_intents,payouts,checkout/sessions}/:id answers with, by id. */
    objects: new Map<string, unknown>(),
    paymentIntents: new Map<string, FakePaymentIntent>(),
  });
  fake.route('GET', /^\/v1\/(charges|refunds|disputes|payment_intents|payouts|checkout\/sessions)\/[\w-]+$/, (req) => {
    const id = req.path.split('/').pop()!;
    const object = fake.objects.get(id);
    if (!object) return { status: 404, body: { error: { type: 'invalid_request_error', code: 'resource_missing', message: `No such object: '${id}'` } } };
    return { body: object };
  });
  fake.route('GET', /^\/v1\/account$/, (req) => {
    const account = fake.accountForKey(req.apiKey)!;
    return { body: { id: account.id, object: 'account', charges_enabled: account.charges_enabled, payouts_enabled: true, country: 'US' } };
  });
  const enabledEventsOf = (form: Record<string, string>) => Object.entries(form).filter(([k]) => k.startsWith('enabled_events[')).map(([, v]) => v);
  const endpointView = (id: string, endpoint: FakeEndpoint) => ({
    id,
    object: 'webhook_endpoint',
    url: endpoint.url,
    enabled_events: endpoint.events,
    status: endpoint.status ?? 'enabled',
    api_version: endpoint.apiVersion,
    livemode: false,
  });
  fake.route('POST', /^\/v1\/webhook_endpoints$/, (req) => {
    const id = `we_${randomBytes(8).toString('hex')}`;
    const secret = `whsec_${randomBytes(16).toString('hex')}`;
    const endpoint: FakeEndpoint = {
      url: req.form.url ?? '',
      events: enabledEventsOf(req.form),
      secret,
      deleted: false,
      apiVersion: req.form.api_version ?? null,
      status: 'enabled',
      account: fake.accountForKey(req.apiKey)!.id,
    };
    fake.endpoints.set(id, endpoint);
    return { body: { ...endpointView(id, endpoint), secret } };
  });
  /** An endpoint of the key's Stripe account (one a test made without `account` belongs to any). */
  const ownEndpoint = (req: FakeRequest) => {
    const id = req.path.split('/').pop()!;
    const endpoint = fake.endpoints.get(id);
    const mine = endpoint && !endpoint.deleted && (endpoint.account === undefined || endpoint.account === fake.accountForKey(req.apiKey)!.id);
    return mine ? { id, endpoint } : { id, missing: { status: 404, body: { error: { type: 'invalid_request_error', code: 'resource_missing', message: `No such webhook endpoint: '${id}'` } } } };
  };
  fake.route('GET', /^\/v1\/webhook_endpoints\/we_\w+$/, (req) => {
    const found = ownEndpoint(req);
    return found.endpoint ? { body: endpointView(found.id, found.endpoint) } : found.missing;
  });
  // Update, as Stripe takes it: `disabled`, `url`, `enabled_events` (replacing the list).
  fake.route('POST', /^\/v1\/webhook_endpoints\/we_\w+$/, (req) => {
    const found = ownEndpoint(req);
    if (!found.endpoint) return found.missing;
    if (req.form.disabled !== undefined) found.endpoint.status = req.form.disabled === 'true' ? 'disabled' : 'enabled';
    if (req.form.url !== undefined) found.endpoint.url = req.form.url;
    const events = enabledEventsOf(req.form);
    if (events.length > 0) found.endpoint.events = events;
    return { body: endpointView(found.id, found.endpoint) };
  });
  fake.route('DELETE', /^\/v1\/webhook_endpoints\/we_\w+$/, (req) => {
    const id = req.path.split('/').pop()!;
    const endpoint = fake.endpoints.get(id);
    if (!endpoint) return { status: 404, body: { error: { type: 'invalid_request_error', message: `No such webhook endpoint: '${id}'` } } };
    endpoint.deleted = true;
    return { body: { id, object: 'webhook_endpoint', deleted: true } };
  });
  const intents = new Map<string, FakePaymentIntent>();
  const publicView = ({ account: _account, ...intent }: FakePaymentIntent) => intent;
  const owned = (req: FakeRequest) => {
    const intent = fake.paymentIntents.get(req.path.split('/')[3] ?? '');
    return intent && intent.account === fake.accountForKey(req.apiKey)!.id ? intent : undefined;
  };
  const noSuchIntent = (req: FakeRequest) => ({
    status: 404,
    body: { error: { type: 'invalid_request_error', code: 'resource_missing', message: `No such payment_intent: '${req.path.split('/')[3]}'` } },
  });
  fake.route('POST', /^\/v1\/payment_intents$/, (req) => {
    const cached = req.idempotencyKey ? intents.get(req.idempotencyKey) : undefined;
    if (cached) return { body: publicView(cached) };
    const id = `pi_${randomBytes(12).toString('hex')}`;
    const metadata = Object.fromEntries(
      Object.entries(req.form).filter(([k]) => k.startsWith('metadata[')).map(([k, v]) => [k.slice(9, -1), v]),
    );
    const intent: FakePaymentIntent = {
      id,
      object: 'payment_intent',
      amount: Number(req.form.amount),
      currency: req.form.currency ?? '',
      metadata,
      status: 'requires_payment_method',
      client_secret: `${id}_secret_${randomBytes(8).toString('hex')}`,
      livemode: (req.apiKey ?? '').includes('_live_'),
      canceled_at: null,
      created: Math.floor(Date.now() / 1000),
      account: fake.accountForKey(req.apiKey)!.id,
    };
    if (req.idempotencyKey) intents.set(req.idempotencyKey, intent);
    fake.paymentIntents.set(id, intent);
    return { body: publicView(intent) };
  });
  fake.route('GET', /^\/v1\/payment_intents\/pi_\w+$/, (req) => {
    const intent = owned(req);
    if (intent) return { body: publicView(intent) };
    // One a test put in `objects` (an event's PaymentIntent fetched again), as the route above answers.
    const object = fake.objects.get(req.path.split('/').pop()!);
    return object ? { body: object } : noSuchIntent(req);
  });
  fake.route('POST', /^\/v1\/payment_intents\/pi_\w+\/cancel$/, (req) => {
    const intent = owned(req);
    if (!intent) return noSuchIntent(req);
    if (!['requires_payment_method', 'requires_capture', 'requires_confirmation', 'requires_action'].includes(intent.status)) {
      return {
        status: 400,
        body: {
          error: {
            type: 'invalid_request_error',
            code: 'payment_intent_unexpected_state',
            message: `You cannot cancel this PaymentIntent because it has a status of ${intent.status}.`,
          },
        },
      };
    }
    intent.status = 'canceled';
    intent.canceled_at = Math.floor(Date.now() / 1000);
    return { body: publicView(intent) };
  });
  addEventListRoute(fake, fake.events);
  addObjectListRoutes(fake, fake.lists, fake.paymentIntents);
  await fake.start();
  return fake;
}
