import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import { paymentEvents } from './payment-events.js';
import { signedDelivery, TEST_WEBHOOK_SECRET } from './stripe-events.js';
import { waitFor } from './wait-for.js';

/**
 * A Black-Friday burst for fault tests: invoices, each paid by several card
 * payments, every payment told twice as Stripe does (payment_intent.succeeded
 * and charge.succeeded carry the same money), posted signed and concurrently;
 * then the checks that nothing was lost and nothing counted twice.
 */

export const FAULT_ADMIN_TOKEN = `fault-admin-${randomBytes(12).toString('hex')}`;

export interface BurstEvent {
  id: string;
  type: string;
  payload: string;
}

export interface BurstPayment {
  invoiceId: string;
  paymentIntentId: string;
  chargeId: string;
  amount: number;
}

export interface Burst {
  invoices: { id: string; amountDue: number }[];
  payments: BurstPayment[];
  events: BurstEvent[];
  /** The sum of every payment sent: what the invoices must add up to, exactly. */
  totalPaid: number;
}

/** Creates `invoiceCount` invoices through the API, each due exactly what its payments will bring. */
export async function createBurst(
  apiBaseUrl: string,
  options: { invoiceCount: number; paymentsPerInvoice: number },
): Promise<Burst> {
  const tag = randomBytes(3).toString('hex');
  const plans = Array.from({ length: options.invoiceCount }, (_, i) =>
    Array.from({ length: options.paymentsPerInvoice }, (__, j) => 100 + ((i * 7919 + j * 104_729) % 9_900)),
  );
  const invoices: Burst['invoices'] = [];
  // A few at a time: this is set-up, not the load under test.
  for (let start = 0; start < plans.length; start += 10) {
    const created = await Promise.all(
      plans.slice(start, start + 10).map(async (amounts, k) => {
        const amountDue = amounts.reduce((a, b) => a + b, 0);
        const res = await fetch(`${apiBaseUrl}/api/invoices`, {
          method: 'POST',
          headers: { authorization: `Bearer ${FAULT_ADMIN_TOKEN}`, 'content-type': 'application/json' },
          body: JSON.stringify({
            number: `FAULT-${tag}-${start + k}`,
            currency: 'usd',
            amountDue,
            customer: { name: 'Burst Customer', email: 'burst@example.com' },
          }),
        });
        const body = (await res.json()) as { id: string };
        assert.equal(res.status, 201, JSON.stringify(body));
        return { id: body.id, amountDue };
      }),
    );
    invoices.push(...created);
  }

  const payments: BurstPayment[] = [];
  const events: BurstEvent[] = [];
  plans.forEach((amounts, i) => {
    for (const amount of amounts) {
      const scenario = paymentEvents({ invoiceId: invoices[i]!.id, amount });
      payments.push({ invoiceId: invoices[i]!.id, paymentIntentId: scenario.paymentIntentId, chargeId: scenario.chargeId, amount });
      for (const event of [scenario.paymentIntent('payment_intent.succeeded'), scenario.charge('charge.succeeded')]) {
        events.push({ id: event.id, type: event.type, payload: JSON.stringify(event) });
      }
    }
  });
  // Interleave invoices and both halves of each payment, as real traffic does.
  shuffle(events);
  return { invoices, payments, events, totalPaid: payments.reduce((sum, p) => sum + p.amount, 0) };
}

function shuffle<T>(items: T[]): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
}

export interface DeliveryResult {
  status: number;
  /** `error.code` of an error answer, or the network error when there was no answer. */
  code?: string;
  duplicate?: boolean;
  ms: number;
}

/** POSTs one event, freshly signed (Stripe signs every retry anew); a network failure is status 0. */
export async function postEvent(baseUrl: string, event: BurstEvent, timeoutMs = 10_000): Promise<DeliveryResult> {
  const startedAt = Date.now();
  try {
    const res = await fetch(`${baseUrl}/webhooks/stripe`, {
      method: 'POST',
      headers: signedDelivery(event.payload).headers,
      body: event.payload,
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    let body: { duplicate?: boolean; error?: { code?: string } } = {};
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      // not JSON: the status says enough
    }
    return { status: res.status, code: body.error?.code, duplicate: body.duplicate, ms: Date.now() - startedAt };
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause;
    return { status: 0, code: cause?.code ?? (error as Error).name, ms: Date.now() - startedAt };
  }
}

/**
 * Sends events with `concurrency` requests in flight, spread round-robin over
 * `targets` (API base URLs, or a function picking one per request), and keeps
 * every answer. `ratePerSecond` paces the burst so a fault can land in its middle.
 */
export class Sender {
  readonly results = new Map<string, DeliveryResult[]>();
  private next = 0;
  done = 0;
  readonly finished: Promise<void>;

  constructor(
    private readonly events: BurstEvent[],
    private readonly targets: () => string,
    options: { concurrency: number; ratePerSecond?: number },
  ) {
    const startedAt = Date.now();
    const loop = async () => {
      for (;;) {
        const index = this.next++;
        const event = this.events[index];
        if (!event) return;
        if (options.ratePerSecond) {
          const due = startedAt + (index * 1000) / options.ratePerSecond;
          if (due > Date.now()) await sleep(due - Date.now());
        }
        const result = await postEvent(this.targets(), event);
        const list = this.results.get(event.id) ?? [];
        list.push(result);
        this.results.set(event.id, list);
        this.done += 1;
      }
    };
    this.finished = Promise.all(Array.from({ length: options.concurrency }, loop)).then(() => undefined);
  }

  /** Events whose last answer was not a 200: the ones Stripe would retry. */
  notAccepted(): BurstEvent[] {
    return this.events.filter((event) => this.results.get(event.id)?.at(-1)?.status !== 200);
  }

  /** How many answers had each status (0: no answer). */
  statusCounts(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const list of this.results.values()) {
      for (const result of list) {
        const key = result.code && result.status !== 200 ? `${result.status} ${result.code}` : String(result.status);
        counts[key] = (counts[key] ?? 0) + 1;
      }
    }
    return counts;
  }
}

export function roundRobin(urls: () => string[]): () => string {
  let i = 0;
  return () => {
    const list = urls();
    return list[i++ % list.length]!;
  };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Re-sends `events` until each got a 200, as Stripe retries a failed delivery
 * (here at once, not over hours). Fails after `timeoutMs`.
 */
export async function redeliverUntilAccepted(baseUrl: () => string, events: BurstEvent[], timeoutMs = 30_000, concurrency = 8): Promise<number> {
  let pending = [...events];
  let tries = 0;
  const deadline = Date.now() + timeoutMs;
  while (pending.length > 0) {
    if (Date.now() > deadline) throw new Error(`${pending.length} events still not accepted after ${timeoutMs} ms`);
    const sender = new Sender(pending, baseUrl, { concurrency });
    await sender.finished;
    tries += pending.length;
    pending = sender.notAccepted();
    if (pending.length > 0) await sleep(200);
  }
  return tries;
}

/** The test's view of the database, past any proxy, as a DBA would look. */
export class Inbox {
  private constructor(private readonly db: mysql.Connection) {}

  static async connect(databaseUrl: string): Promise<Inbox> {
    return new Inbox(await mysql.createConnection(databaseUrl));
  }

  async query<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    const [rows] = await this.db.query(sql, params);
    return rows as T[];
  }

  async statusCounts(): Promise<Record<string, number>> {
    const rows = await this.query<{ status: string; n: number }>('SELECT status, COUNT(*) AS n FROM stripe_events GROUP BY status');
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
  }

  async processedCount(): Promise<number> {
    return (await this.statusCounts()).processed ?? 0;
  }

  /** Waits until every event of the burst is settled as processed; the message shows where it got stuck. */
  async waitAllProcessed(burst: Burst, timeoutMs: number, what = 'every event to be processed'): Promise<void> {
    let last: Record<string, number> = {};
    try {
      await waitFor(
        what,
        async () => {
          last = await this.statusCounts();
          return (last.processed ?? 0) >= burst.events.length;
        },
        timeoutMs,
        100,
      );
    } catch (error) {
      throw new Error(`${(error as Error).message}; stripe_events by status: ${JSON.stringify(last)}`, { cause: error });
    }
  }

  /**
   * Exactly once, end to end:
   * - every event of the burst is stored, once, and `processed`; nothing else is in the inbox;
   * - every event has exactly one successful try in its history (`event_attempts`): applied once;
   * - each invoice's amount_paid is exactly the sum of its payments, and the sum over the
   *   invoices is the sum of all payments sent (each payment told by two events, counted once);
   * - each payment and its charge carry exactly its amount, linked to its invoice.
   */
  async assertExactlyOnce(burst: Burst): Promise<{ retries: number }> {
    const ids = new Set(burst.events.map((e) => e.id));
    const stored = await this.query<{ id: string; status: string; reason: string | null; last_error: string | null }>(
      'SELECT id, status, reason, last_error FROM stripe_events',
    );
    const storedIds = new Set(stored.map((r) => r.id));
    const missing = [...ids].filter((id) => !storedIds.has(id));
    assert.deepEqual(missing, [], `${missing.length} delivered events are not in the inbox (lost)`);
    const unexpected = stored.filter((r) => !ids.has(r.id));
    assert.deepEqual(unexpected, [], 'the inbox holds events nobody sent');
    const notProcessed = stored.filter((r) => r.status !== 'processed');
    assert.deepEqual(notProcessed.slice(0, 5), [], `${notProcessed.length} events are not processed`);

    const attempts = await this.query<{ event_id: string; processed: number; others: number }>(
      `SELECT event_id, SUM(outcome = 'processed') AS processed, SUM(outcome <> 'processed') AS others
         FROM event_attempts GROUP BY event_id`,
    );
    const appliedTwice = attempts.filter((a) => Number(a.processed) !== 1);
    assert.deepEqual(appliedTwice.slice(0, 5), [], `${appliedTwice.length} events were applied a number of times other than once`);
    assert.equal(attempts.length, burst.events.length, 'every event has a processing history');

    const expectedByInvoice = new Map<string, number>();
    for (const p of burst.payments) expectedByInvoice.set(p.invoiceId, (expectedByInvoice.get(p.invoiceId) ?? 0) + p.amount);
    const invoices = await this.query<{ id: string; amount_paid: string; amount_due: string; status: string }>(
      'SELECT id, amount_paid, amount_due, status FROM invoices WHERE id IN (?)',
      [burst.invoices.map((i) => i.id)],
    );
    assert.equal(invoices.length, burst.invoices.length);
    const wrong = invoices
      .filter((i) => Number(i.amount_paid) !== expectedByInvoice.get(i.id) || i.status !== 'paid')
      .map((i) => ({ id: i.id, amountPaid: Number(i.amount_paid), expected: expectedByInvoice.get(i.id), status: i.status }));
    assert.deepEqual(wrong, [], 'every invoice is paid exactly the sum of its payments');
    const totalPaid = invoices.reduce((sum, i) => sum + Number(i.amount_paid), 0);
    assert.equal(totalPaid, burst.totalPaid, 'the invoices add up to exactly the payments sent');

    const payments = await this.query<{ id: string; invoice_id: string | null; amount_received: string; captured: string | null; charges: number }>(
      `SELECT p.id, p.invoice_id, p.amount_received, SUM(c.amount_captured) AS captured, COUNT(c.id) AS charges
         FROM payments p LEFT JOIN charges c ON c.payment_id = p.id GROUP BY p.id`,
    );
    const byId = new Map(payments.map((p) => [p.id, p]));
    assert.equal(payments.length, burst.payments.length, 'one payment row per payment sent');
    const badPayments = burst.payments
      .map((p) => ({ p, row: byId.get(p.paymentIntentId) }))
      .filter(
        ({ p, row }) =>
          !row ||
          row.invoice_id !== p.invoiceId ||
          Number(row.amount_received) !== p.amount ||
          Number(row.captured) !== p.amount ||
          Number(row.charges) !== 1,
      )
      .map(({ p, row }) => ({ expected: p, row }));
    assert.deepEqual(badPayments.slice(0, 5), [], `${badPayments.length} payments are not recorded exactly once`);
    return { retries: attempts.reduce((sum, a) => sum + Number(a.others), 0) };
  }

  async end(): Promise<void> {
    await this.db.end().catch(() => {});
  }
}

/** The env every fault-test child shares; a test adds its database, Redis, prefix and role. */
export function serviceEnv(options: { databaseUrl: string; redisUrl: string; prefix: string }, extra: Record<string, string> = {}): Record<string, string> {
  return {
    NODE_ENV: 'test',
    PORT: '0',
    DATABASE_URL: options.databaseUrl,
    REDIS_URL: options.redisUrl,
    QUEUE_PREFIX: options.prefix,
    STRIPE_WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
    ADMIN_TOKEN: FAULT_ADMIN_TOKEN,
    LOG_LEVEL: 'info',
    // Retries: quick, but with room for an outage of several seconds (500 ms doubling, 8 tries ≈ 2 min).
    JOB_ATTEMPTS: '8',
    JOB_BACKOFF_MS: '500',
    // The relay catches up within a second or two after a Redis outage.
    RELAY_INTERVAL_MS: '500',
    RELAY_AFTER_MS: '1000',
    ...extra,
  };
}
