import type { FakePaymentIntent, FakeRequest, FakeStripe } from './fake-stripe.js';

/** The object lists the drift check reads, by path. */
export const LISTED_PATHS = ['payment_intents', 'charges', 'refunds', 'disputes', 'payouts'] as const;
export type ListedPath = (typeof LISTED_PATHS)[number];

const PATH_OF: Record<string, ListedPath> = {
  payment_intent: 'payment_intents',
  charge: 'charges',
  refund: 'refunds',
  dispute: 'disputes',
  payout: 'payouts',
};

/** Stripe's bound on `limit`. */
const MAX_LIMIT = 100;

interface Listed {
  id: string;
  created: number;
  [key: string]: unknown;
}

interface Entry {
  object: Listed;
  seq: number;
}

/**
 * Each Stripe account's PaymentIntents, charges, refunds, disputes and payouts as Stripe lists
 * them (GET /v1/<path>): newest first (by `created`, then the latest added), `limit` (1–100,
 * default 10), `starting_after` (the last id of the previous page; an unknown one is a 400, as
 * Stripe's), `created[gt|gte|lt|lte]`. What a test `put`s is what Stripe has; putting an object
 * again (same id) replaces it, as an object changes at Stripe. Retrieval by id
 * (GET /v1/<path>/:id) answers from here too, for the account's own key.
 */
export class FakeObjectLists {
  private readonly byAccount = new Map<string, Map<ListedPath, { entries: Entry[]; index: Map<string, number>; sorted: boolean }>>();
  private seq = 0;

  /** Objects of one Stripe account (an `acct_` id of the fake); the path comes from each object's `object`. */
  put(stripeAccountId: string, ...objects: Listed[]): void {
    for (const object of objects) {
      const path = PATH_OF[String(object.object)];
      if (!path) throw new Error(`the fake lists no ${String(object.object)}`);
      const list = this.listOf(stripeAccountId, path);
      const at = list.entries.findIndex((entry) => entry.object.id === object.id);
      if (at >= 0) list.entries[at] = { object, seq: list.entries[at]!.seq };
      else list.entries.push({ object, seq: this.seq++ });
      list.sorted = false;
    }
  }

  /** Stripe no longer has it (a test's way of planting an object only the service knows). */
  remove(stripeAccountId: string, path: ListedPath, id: string): void {
    const list = this.listOf(stripeAccountId, path);
    list.entries = list.entries.filter((entry) => entry.object.id !== id);
    list.sorted = false;
  }

  get(stripeAccountId: string, path: ListedPath, id: string): Listed | undefined {
    return this.byAccount.get(stripeAccountId)?.get(path)?.entries.find((entry) => entry.object.id === id)?.object;
  }

  list(stripeAccountId: string, path: ListedPath, query: URLSearchParams, extra: Listed[] = []): { status?: number; body: unknown } {
    const invalid = (message: string, param: string) => ({ status: 400, body: { error: { type: 'invalid_request_error', code: 'parameter_invalid', param, message } } });
    const limit = query.has('limit') ? Number(query.get('limit')) : 10;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) return invalid('Invalid integer: limit must be between 1 and 100.', 'limit');
    const bound = (op: string) => (query.has(`created[${op}]`) ? Number(query.get(`created[${op}]`)) : undefined);
    const [gt, gte, lt, lte] = ['gt', 'gte', 'lt', 'lte'].map(bound);
    const matches = (o: Listed) =>
      (gt === undefined || o.created > gt) && (gte === undefined || o.created >= gte) && (lt === undefined || o.created < lt) && (lte === undefined || o.created <= lte);

    const list = this.listOf(stripeAccountId, path);
    this.sort(list);
    // Objects kept elsewhere (Pay Now's intents) are merged in as they are now, not copied here.
    const own = new Set(list.entries.map((entry) => entry.object.id));
    const merged = extra.filter((object) => !own.has(object.id));
    const entries = merged.length ? [...list.entries, ...merged.map((object) => ({ object, seq: -1 }))].sort((a, b) => b.object.created - a.object.created || b.seq - a.seq) : list.entries;
    const index = merged.length ? new Map(entries.map((entry, i) => [entry.object.id, i])) : list.index;
    let start = 0;
    const after = query.get('starting_after');
    if (after) {
      const at = index.get(after);
      if (at === undefined) return invalid(`No such object: '${after}'`, 'starting_after');
      start = at + 1;
    }
    const data: Listed[] = [];
    let hasMore = false;
    for (let i = start; i < entries.length; i++) {
      const object = entries[i]!.object;
      if (!matches(object)) continue;
      if (data.length === limit) {
        hasMore = true;
        break;
      }
      data.push(object);
    }
    return { body: { object: 'list', url: `/v1/${path}`, has_more: hasMore, data } };
  }

  private listOf(stripeAccountId: string, path: ListedPath) {
    let account = this.byAccount.get(stripeAccountId);
    if (!account) this.byAccount.set(stripeAccountId, (account = new Map()));
    let list = account.get(path);
    if (!list) account.set(path, (list = { entries: [], index: new Map(), sorted: true }));
    return list;
  }

  private sort(list: { entries: Entry[]; index: Map<string, number>; sorted: boolean }): void {
    if (list.sorted) return;
    list.entries.sort((a, b) => b.object.created - a.object.created || b.seq - a.seq);
    list.index = new Map(list.entries.map((entry, i) => [entry.object.id, i]));
    list.sorted = true;
  }
}

/**
 * GET /v1/{payment_intents,charges,refunds,disputes,payouts} for the key's Stripe account, and
 * GET /v1/<path>/:id of the account's listed objects. The PaymentIntents Pay Now created through the
 * fake are listed too, as Stripe has them.
 */
export function addObjectListRoutes(fake: FakeStripe, lists: FakeObjectLists, paymentIntents: Map<string, FakePaymentIntent>): void {
  const accountOf = (req: FakeRequest) => fake.accountForKey(req.apiKey)!.id;
  for (const path of LISTED_PATHS) {
    fake.route('GET', new RegExp(`^/v1/${path}$`), (req) => {
      const account = accountOf(req);
      const extra =
        path === 'payment_intents'
          ? [...paymentIntents.values()].filter((intent) => intent.account === account).map(({ account: _account, ...intent }) => intent as unknown as Listed)
          : [];
      return lists.list(account, path, req.query, extra);
    });
    fake.route('GET', new RegExp(`^/v1/${path}/[\\w-]+$`), (req) => {
      const object = lists.get(accountOf(req), path, req.path.split('/').pop()!);
      // undefined: the routes added before answer (a test's `objects`, Pay Now's intents, or their 404).
      return object ? { body: object } : undefined;
    });
  }
}
