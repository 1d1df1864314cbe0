import type { FakeRequest, FakeStripe } from './fake-stripe.js';
import { buildBalanceTransaction, buildCharge, buildDispute, buildPayout, buildRefund, uniqueId } from './stripe-objects.js';

/**
 * GET /v1/balance_transactions on the fake Stripe API, as Stripe pages it:
 * `limit` (at most `maxPageSize`), `starting_after`, `has_more`, and the
 * `source` expanded to its object when `expand[]=data.source` is asked for.
 * A payout's list is either stored items or a generator (for 10,000 items
 * without holding them all).
 */
export interface FakeTxn {
  id: string;
  amount: number;
  fee: number;
  net: number;
  currency: string;
  type: string;
  reporting_category: string;
  /** The expanded source object, or null (Stripe fees, for instance, have none). */
  source: { id: string; object: string } | null;
  description?: string | null;
  created?: number;
}

interface Listing {
  count: number;
  at(index: number): FakeTxn;
  indexOf(id: string): number;
}

export interface ServedPage {
  payout: string;
  startingAfter: string | null;
  limit: number;
  expanded: boolean;
  returned: number;
  at: number;
}

export class FakeBalanceTransactions {
  private readonly listings = new Map<string, Listing>();
  readonly pages: ServedPage[] = [];
  /** Answer this many list requests with a 500 first (Stripe having a bad minute). */
  failNext = 0;
  /** Real Stripe caps limit at 100; tests lower it to get several pages from a few items. */
  maxPageSize = 100;
  /** False: answer with source ids even when expansion is asked for (what the service must cope with). */
  expandSources = true;

  constructor(fake: FakeStripe) {
    fake.route('GET', /^\/v1\/balance_transactions$/, (req) => this.list(req));
  }

  set(payoutId: string, txns: FakeTxn[]): void {
    const index = new Map(txns.map((t, i) => [t.id, i]));
    this.listings.set(payoutId, { count: txns.length, at: (i) => txns[i]!, indexOf: (id) => index.get(id) ?? -1 });
  }

  /** `count` transactions made on demand from their index, ids `${prefix}_${index}`. */
  generate(payoutId: string, count: number, prefix: string, make: (index: number, id: string) => FakeTxn): void {
    this.listings.set(payoutId, {
      count,
      at: (i) => make(i, `${prefix}_${i}`),
      indexOf: (id) => (id.startsWith(`${prefix}_`) ? Number(id.slice(prefix.length + 1)) : -1),
    });
  }

  private list(req: FakeRequest) {
    if (this.failNext > 0) {
      this.failNext--;
      return { status: 500, body: { error: { type: 'api_error', message: 'An unknown error occurred' } } };
    }
    const payout = req.query.get('payout');
    const listing = payout ? this.listings.get(payout) : undefined;
    if (!payout || !listing) {
      return { status: 404, body: { error: { type: 'invalid_request_error', code: 'resource_missing', message: `No such payout: '${payout}'`, param: 'payout' } } };
    }
    const expanded = this.expandSources && [...req.query.entries()].some(([key, value]) => key.startsWith('expand') && value === 'data.source');
    const limit = Math.min(Number(req.query.get('limit') ?? 10), this.maxPageSize);
    const startingAfter = req.query.get('starting_after');
    const start = startingAfter ? listing.indexOf(startingAfter) + 1 : 0;
    if (startingAfter && start === 0) {
      return { status: 400, body: { error: { type: 'invalid_request_error', message: `No such balance transaction: '${startingAfter}'`, param: 'starting_after' } } };
    }
    const end = Math.min(start + limit, listing.count);
    const data = [];
    for (let i = start; i < end; i++) data.push(render(listing.at(i), expanded));
    this.pages.push({ payout, startingAfter, limit, expanded, returned: data.length, at: Date.now() });
    return { body: { object: 'list', url: '/v1/balance_transactions', has_more: end < listing.count, data } };
  }
}

function render(txn: FakeTxn, expanded: boolean) {
  return {
    ...buildBalanceTransaction(),
    id: txn.id,
    amount: txn.amount,
    fee: txn.fee,
    net: txn.net,
    currency: txn.currency,
    type: txn.type,
    reporting_category: txn.reporting_category,
    description: txn.description ?? null,
    created: txn.created ?? 1_760_000_000,
    available_on: (txn.created ?? 1_760_000_000) + 2 * 86_400,
    fee_details: txn.fee ? [{ amount: txn.fee, currency: txn.currency, description: 'Stripe processing fees', type: 'stripe_fee' }] : [],
    source: txn.source === null ? null : expanded ? txn.source : txn.source.id,
  };
}

/** Balance transactions as Stripe makes them for a card payment's life, with Stripe-shaped sources. */
export const txns = {
  charge(p: { chargeId: string; paymentIntentId: string | null; amount: number; fee: number; currency?: string }): FakeTxn {
    const currency = p.currency ?? 'usd';
    return {
      id: uniqueId('txn'),
      amount: p.amount,
      fee: p.fee,
      net: p.amount - p.fee,
      currency,
      type: 'charge',
      reporting_category: 'charge',
      source: buildCharge({ id: p.chargeId, payment_intent: p.paymentIntentId, amount: p.amount, currency }),
    };
  },
  refund(p: { refundId: string; chargeId: string; paymentIntentId: string | null; amount: number; currency?: string }): FakeTxn {
    const currency = p.currency ?? 'usd';
    return {
      id: uniqueId('txn'),
      amount: -p.amount,
      fee: 0,
      net: -p.amount,
      currency,
      type: 'refund',
      reporting_category: 'refund',
      source: buildRefund({ id: p.refundId, charge: p.chargeId, payment_intent: p.paymentIntentId, amount: p.amount, currency }),
    };
  },
  /** The withdrawal when a dispute opens: the disputed amount plus Stripe's dispute fee. */
  dispute(p: { disputeId: string; chargeId: string; paymentIntentId: string | null; amount: number; fee?: number; currency?: string }): FakeTxn {
    const currency = p.currency ?? 'usd';
    const fee = p.fee ?? 1500;
    return {
      id: uniqueId('txn'),
      amount: -p.amount,
      fee,
      net: -p.amount - fee,
      currency,
      type: 'adjustment',
      reporting_category: 'dispute',
      source: buildDispute({ id: p.disputeId, charge: p.chargeId, payment_intent: p.paymentIntentId, amount: p.amount, currency }),
    };
  },
  stripeFee(p: { amount: number; currency?: string }): FakeTxn {
    return { id: uniqueId('txn'), amount: -p.amount, fee: 0, net: -p.amount, currency: p.currency ?? 'usd', type: 'stripe_fee', reporting_category: 'fee', source: null, description: 'Radar fees' };
  },
  /**
   * A failed payout's money coming back to the balance (the failed payout's
   * failure_balance_transaction, its source that payout): a later payout lists it.
   */
  payoutFailure(p: { failedPayoutId: string; amount: number; id?: string; currency?: string }): FakeTxn {
    return {
      id: p.id ?? uniqueId('txn'),
      amount: p.amount,
      fee: 0,
      net: p.amount,
      currency: p.currency ?? 'usd',
      type: 'payout_failure',
      reporting_category: 'payout_reversal',
      source: buildPayout({ id: p.failedPayoutId, status: 'failed' }),
    };
  },
  /** The payout's own debit, which Stripe lists with the rest: never one of its items. */
  payout(p: { payoutId: string; amount: number; id?: string; currency?: string }): FakeTxn {
    return {
      id: p.id ?? uniqueId('txn'),
      amount: -p.amount,
      fee: 0,
      net: -p.amount,
      currency: p.currency ?? 'usd',
      type: 'payout',
      reporting_category: 'payout',
      source: buildPayout({ id: p.payoutId }),
    };
  },
};
