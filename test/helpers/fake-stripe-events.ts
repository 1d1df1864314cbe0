import type Stripe from 'stripe';
import type { FakeRequest, FakeStripe } from './fake-stripe.js';

/** Stripe's bounds on GET /v1/events. */
const MAX_LIMIT = 100;
const MAX_TYPES = 20;

interface Entry {
  event: Stripe.Event;
  seq: number;
}

/**
 * Each Stripe account's events, as GET /v1/events lists them: newest first (by `created`, then the
 * latest added), `limit` (1–100, default 10), `starting_after` (the last id of the previous page),
 * `created[gt|gte|lt|lte]`, `type` or `types[]` (at most 20, else 400, as Stripe). Pages are cut
 * from the sorted list with an index by id, so 50,000 events page as fast as 50.
 */
/**
 * Events made when a page asks for them: event `i` (0 the newest) is `at(i)`, its id `idOf(i)` and
 * `indexOf` the way back. A listing of 50,000 events then costs the fake (the test process) a page
 * at a time, not the whole list.
 */
export interface GeneratedEvents {
  count: number;
  at(i: number): Stripe.Event;
  indexOf(id: string): number | undefined;
}

export class FakeEventLog {
  private readonly byAccount = new Map<string, { entries: Entry[]; index: Map<string, number>; sorted: boolean }>();
  private readonly generated = new Map<string, GeneratedEvents>();
  private seq = 0;

  /** An account whose events are generated (see GeneratedEvents); its `add`ed events are not listed then. */
  addGenerated(stripeAccountId: string, events: GeneratedEvents): void {
    this.generated.set(stripeAccountId, events);
  }

  /** Adds events of one Stripe account (an `acct_` id of the fake). */
  add(stripeAccountId: string, events: Stripe.Event[]): void {
    let log = this.byAccount.get(stripeAccountId);
    if (!log) this.byAccount.set(stripeAccountId, (log = { entries: [], index: new Map(), sorted: true }));
    for (const event of events) log.entries.push({ event, seq: this.seq++ });
    log.sorted = false;
  }

  count(stripeAccountId: string): number {
    return this.byAccount.get(stripeAccountId)?.entries.length ?? 0;
  }

  list(stripeAccountId: string, query: URLSearchParams): { status?: number; body: unknown } {
    const invalid = (message: string, param: string) => ({ status: 400, body: { error: { type: 'invalid_request_error', code: 'parameter_invalid', param, message } } });
    const limit = query.has('limit') ? Number(query.get('limit')) : 10;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) return invalid('Invalid integer: limit must be between 1 and 100.', 'limit');
    const types = [...query.entries()].filter(([key]) => /^types\[\d*\]$/.test(key)).map(([, value]) => value);
    if (types.length > MAX_TYPES) return invalid(`Invalid array: types must have at most ${MAX_TYPES} elements.`, 'types');
    const type = query.get('type');
    const bound = (op: string) => (query.has(`created[${op}]`) ? Number(query.get(`created[${op}]`)) : undefined);
    const [gt, gte, lt, lte] = ['gt', 'gte', 'lt', 'lte'].map(bound);
    const wanted = new Set(types);
    const matches = (event: Stripe.Event) =>
      (wanted.size === 0 || wanted.has(event.type)) &&
      (type === null || event.type === type) &&
      (gt === undefined || event.created > gt) &&
      (gte === undefined || event.created >= gte) &&
      (lt === undefined || event.created < lt) &&
      (lte === undefined || event.created <= lte);

    const log = this.byAccount.get(stripeAccountId);
    const generated = this.generated.get(stripeAccountId);
    if (log) this.sort(log);
    const count = generated ? generated.count : (log?.entries.length ?? 0);
    const eventAt = (i: number) => (generated ? generated.at(i) : log!.entries[i]!.event);
    const indexOf = (id: string) => (generated ? generated.indexOf(id) : log?.index.get(id));
    const data: Stripe.Event[] = [];
    let hasMore = false;
    let start = 0;
    const after = query.get('starting_after');
    if (after) {
      const at = indexOf(after);
      if (at === undefined) return invalid(`No such event: '${after}'`, 'starting_after');
      start = at + 1;
    }
    for (let i = start; i < count; i++) {
      const event = eventAt(i);
      if (!matches(event)) continue;
      if (data.length === limit) {
        hasMore = true;
        break;
      }
      data.push(event);
    }
    return { body: { object: 'list', url: '/v1/events', has_more: hasMore, data } };
  }

  private sort(log: { entries: Entry[]; index: Map<string, number>; sorted: boolean }): void {
    if (log.sorted) return;
    log.entries.sort((a, b) => b.event.created - a.event.created || b.seq - a.seq);
    log.index = new Map(log.entries.map((entry, i) => [entry.event.id, i]));
    log.sorted = true;
  }
}

/** GET /v1/events for the key's Stripe account. */
export function addEventListRoute(fake: FakeStripe, log: FakeEventLog): void {
  fake.route('GET', /^\/v1\/events$/, (req: FakeRequest) => log.list(fake.accountForKey(req.apiKey)!.id, req.query));
}
