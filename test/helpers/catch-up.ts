import assert from 'node:assert/strict';
import type Stripe from 'stripe';
import { auth } from './billing-client.js';
import { paymentEvents } from './payment-events.js';
import { signedDelivery, TEST_WEBHOOK_SECRET } from './stripe-events.js';
import type { TestService } from './test-service.js';
import { waitFor } from './wait-for.js';

export interface CatchUpJobView {
  jobId: string;
  accountId: string;
  state: string;
  progress: Record<string, number | string> | null;
  catchUp: ({ ran: true } & Record<string, number | string | boolean>) | { ran: false; reason: string } | null;
  webhookEndpoint: { status: string; endpointId?: string | null; problems: { code: string }[] } | null;
  error: string | null;
}

/** POST /api/ops/catch-up as an operator would, then follows each job to its end; the jobs' final views. */
export async function runCatchUp(t: TestService, body: Record<string, unknown> = {}, headers: Record<string, string> = auth, timeoutMs = 60_000): Promise<CatchUpJobView[]> {
  const res = await t.http.post('/api/ops/catch-up').set(headers).send(body);
  assert.equal(res.status, 202, JSON.stringify(res.body));
  const jobs = res.body.jobs as { jobId: string }[];
  return Promise.all(
    jobs.map((job) =>
      waitFor(
        `catch-up job ${job.jobId} to end`,
        async () => {
          const view = await t.http.get(`/api/ops/catch-up/jobs/${job.jobId}`).set(headers);
          assert.equal(view.status, 200, JSON.stringify(view.body));
          return ['completed', 'failed'].includes(view.body.state) ? (view.body as CatchUpJobView) : undefined;
        },
        timeoutMs,
        50,
      ),
    ),
  );
}

/** The summary of a catch-up job that ran. */
export function summaryOf(job: CatchUpJobView): Record<string, number | string | boolean> {
  assert.equal(job.state, 'completed', `job ${job.jobId}: ${job.error}`);
  assert.ok(job.catchUp?.ran, `the run was skipped: ${JSON.stringify(job.catchUp)}`);
  return job.catchUp as Record<string, number | string | boolean>;
}

export interface PlannedPayment {
  invoiceId: string;
  amount: number;
  events: Stripe.Event[];
}

/**
 * Card payments of the given invoices, each told twice as Stripe tells it (payment_intent.succeeded
 * and charge.succeeded carry the same money), created within the last hour, one second apart.
 */
export function recentPayments(invoices: { id: string; amounts: number[] }[], createdFrom = Math.floor(Date.now() / 1000) - 3600): PlannedPayment[] {
  let created = createdFrom;
  return invoices.flatMap((invoice) =>
    invoice.amounts.map((amount) => {
      const scenario = paymentEvents({ invoiceId: invoice.id, amount });
      return {
        invoiceId: invoice.id,
        amount,
        events: [scenario.paymentIntent('payment_intent.succeeded', { created: created++ }), scenario.charge('charge.succeeded', { created: created++ })],
      };
    }),
  );
}

/** Posts signed deliveries `concurrency` at a time; the `duplicate` flag of each answer, by event id. */
export async function deliverAll(t: TestService, events: Stripe.Event[], options: { path?: string; secret?: string; concurrency?: number } = {}): Promise<Map<string, boolean>> {
  const duplicates = new Map<string, boolean>();
  const queue = [...events];
  const worker = async () => {
    for (let event = queue.shift(); event; event = queue.shift()) {
      const payload = JSON.stringify(event);
      const res = await t.http
        .post(options.path ?? '/webhooks/stripe')
        .set(signedDelivery(payload, options.secret ?? TEST_WEBHOOK_SECRET).headers)
        .send(payload);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      duplicates.set(event.id, res.body.duplicate as boolean);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 16 }, worker));
  return duplicates;
}

/** Waits until no event of the inbox is left `received`. */
export async function allSettled(t: TestService, expected: number, timeoutMs = 60_000): Promise<void> {
  await waitFor(
    `${expected} events settled`,
    async () => {
      const [row] = await t.query<{ settled: number; waiting: number }>(
        "SELECT SUM(status <> 'received') AS settled, SUM(status = 'received') AS waiting FROM stripe_events",
      );
      return Number(row?.settled) === expected && Number(row?.waiting) === 0;
    },
    timeoutMs,
    100,
  );
}

/** A metric's value in GET /metrics' text, for one label set; undefined when the series is absent. */
export async function metricValue(t: TestService, name: string, labels: string): Promise<number | undefined> {
  const text = (await t.http.get('/metrics').expect(200)).text;
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? undefined : Number(line.split(' ').pop());
}
