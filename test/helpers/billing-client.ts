import assert from 'node:assert/strict';
import type Stripe from 'stripe';
import { TEST_ADMIN_TOKEN, type TestService } from './test-service.js';
import { signedDelivery } from './stripe-events.js';
import { waitFor } from './wait-for.js';

export const auth = { Authorization: `Bearer ${TEST_ADMIN_TOKEN}` };

let invoiceCounter = 0;

export async function createInvoice(
  t: TestService,
  overrides: Partial<{ number: string; currency: string; amountDue: number; customer: { name: string; email: string } }> = {},
): Promise<{ id: string; number: string; currency: string; amountDue: number }> {
  const res = await t.http
    .post('/api/invoices')
    .set(auth)
    .send({
      number: `INV-${process.pid}-${Date.now()}-${++invoiceCounter}`,
      currency: 'usd',
      amountDue: 1000,
      customer: { name: 'Ada Lovelace', email: 'ada@example.com' },
      ...overrides,
    });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body;
}

export async function getInvoice(t: TestService, id: string) {
  const res = await t.http.get(`/api/invoices/${id}`).set(auth);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body;
}

/** Posts a signed event; resolves once the inbox has it. */
export async function deliver(t: TestService, event: Stripe.Event): Promise<void> {
  const payload = JSON.stringify(event);
  const res = await t.http.post('/webhooks/stripe').set(signedDelivery(payload).headers).send(payload);
  assert.equal(res.status, 200, JSON.stringify(res.body));
}

export interface SettledEvent {
  status: string;
  reason: string | null;
  attempts: number;
  last_error: string | null;
}

/** Waits until the worker has settled the event (processed, ignored or failed). */
export async function settled(t: TestService, eventId: string, timeoutMs = 15_000): Promise<SettledEvent> {
  return waitFor(
    `event ${eventId} to be settled`,
    async () => {
      const [row] = await t.query<SettledEvent>('SELECT status, reason, attempts, last_error FROM stripe_events WHERE id = ?', [eventId]);
      return row && row.status !== 'received' ? row : undefined;
    },
    timeoutMs,
    10,
  );
}

/** Delivers and waits for the worker: events reach the handlers in exactly this order. */
export async function deliverInOrder(t: TestService, events: Stripe.Event[]): Promise<SettledEvent[]> {
  const results: SettledEvent[] = [];
  for (const event of events) {
    await deliver(t, event);
    results.push(await settled(t, event.id));
  }
  return results;
}
