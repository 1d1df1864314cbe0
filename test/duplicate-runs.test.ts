import assert from 'node:assert/strict';
import type { DataSource } from 'typeorm';
import { startTestService, type TestService } from './helpers/test-service.js';
import { createInvoice, deliver, getInvoice } from './helpers/billing-client.js';
import { paymentEvents } from './helpers/payment-events.js';
import { stripeEvent } from './helpers/stripe-events.js';
import { createMemoryLogger } from './helpers/memory-logger.js';
import { waitFor } from './helpers/wait-for.js';
import { createDataSource } from '../src/db/data-source.js';
import { createEventProcessor } from '../src/events/process-event.js';
import { eventHandlers } from '../src/events/subscribed-events.js';
import type { EventHandler, HandlerRegistry } from '../src/events/handler-registry.js';

/**
 * Handlers are idempotent, but money safety must not rest on that alone: a run of an event that
 * another run settled first (two jobs for one event), or a stray job for an event already failed
 * (the queue UI's Retry, a relay race), commits no effects. The runs here use a handler that is
 * NOT idempotent on purpose (each run inserts a row), so an effect that slipped through shows.
 */
describe('duplicate and stray runs of one event commit no effects', () => {
  let t: TestService;
  let dataSource: DataSource;

  before(async () => {
    // The API only: no worker of the service's own, the processors below are the only ones.
    t = await startTestService({ ROLE: 'api' });
    dataSource = createDataSource(t.config.DATABASE_URL);
    await dataSource.initialize();
    await dataSource.query('CREATE TABLE effect_probe (id INT AUTO_INCREMENT PRIMARY KEY, event_id VARCHAR(255) NOT NULL)');
  });
  after(async () => {
    await dataSource?.destroy();
    await t?.stop();
  });

  /** Every run writes a row once all `parties` runs are inside their transactions, so none has settled yet. */
  function meetingHandler(parties: number): { registry: HandlerRegistry; entered: () => number } {
    let entered = 0;
    const handler: EventHandler = async ({ event, manager }) => {
      entered += 1;
      await waitFor('the other runs to be inside their transactions', () => entered >= parties, 10_000, 5);
      await manager.query('INSERT INTO effect_probe (event_id) VALUES (?)', [event.id]);
    };
    return { registry: { 'customer.created': handler }, entered: () => entered };
  }
  const effects = async (eventId: string) => Number(((await dataSource.query('SELECT COUNT(*) AS n FROM effect_probe WHERE event_id = ?', [eventId])) as { n: number }[])[0]!.n);
  const statusOf = async (eventId: string) => ((await dataSource.query('SELECT status FROM stripe_events WHERE id = ?', [eventId])) as { status: string }[])[0]!.status;
  const storedEvent = async () => {
    const event = stripeEvent({ type: 'customer.created', resource: 'customer' });
    await deliver(t, event);
    return event;
  };
  const attempt = { number: 1, max: 3 };

  it('two jobs for one event on the lone path: both run their handler, one commits, the other rolls back and reports it settled', async () => {
    const event = await storedEvent();
    const { registry } = meetingHandler(2);
    const processors = [0, 1].map(() => createEventProcessor({ dataSource, registry, logger: createMemoryLogger().logger }));
    const results = await Promise.all(processors.map((processEvent) => processEvent({ eventId: event.id, accountId: null }, attempt)));
    assert.equal(await effects(event.id), 1, 'the effects of exactly one run are committed');
    assert.equal(await statusOf(event.id), 'processed');
    assert.deepEqual(results.map((r) => Boolean(r.alreadySettled)).sort(), [false, true], JSON.stringify(results));
  });

  it('two jobs for the same events on the batch path: one batch commits, the other rolls back, and its events find them settled', async () => {
    const events = [await storedEvent(), await storedEvent()];
    // Each processor's first handler waits for the other's: both batches are inside their transactions at once.
    const { registry: meeting } = meetingHandler(2);
    // A gate event holds each processor's one lane, so the two events queue up and run as one batch after it.
    let openGate!: () => void;
    const gate = new Promise<void>((resolve) => (openGate = resolve));
    const registry: HandlerRegistry = { ...meeting, 'customer.updated': async () => gate };
    const gates = await Promise.all([0, 1].map(async () => {
      const event = stripeEvent({ type: 'customer.updated', resource: 'customer' });
      await deliver(t, event);
      return event;
    }));
    const processors = gates.map(() => createEventProcessor({ dataSource, registry, logger: createMemoryLogger().logger, batch: { maxBatch: 8, lanes: 1 } }));
    const gateRuns = processors.map((processEvent, i) => processEvent({ eventId: gates[i]!.id, accountId: null }, attempt));
    const runs = processors.flatMap((processEvent) => events.map((event) => processEvent({ eventId: event.id, accountId: null }, attempt)));
    openGate();
    await Promise.all([...gateRuns, ...runs]);
    for (const event of events) {
      assert.equal(await effects(event.id), 1, `event ${event.id}: the effects of one run only`);
      assert.equal(await statusOf(event.id), 'processed');
    }
  });

  it('a stray job for an event already failed (outside a replay) changes nothing, and the event stays failed for on-call to replay', async () => {
    const invoice = await createInvoice(t, { amountDue: 1000 });
    const event = paymentEvents({ invoiceId: invoice.id, amount: 1000 }).paymentIntent('payment_intent.succeeded');
    await deliver(t, event);
    // As its last try left it.
    await dataSource.query("UPDATE stripe_events SET status = 'failed', attempts = 3, last_error = 'ER_LOCK_WAIT_TIMEOUT' WHERE id = ?", [event.id]);
    const processEvent = createEventProcessor({ dataSource, registry: eventHandlers, logger: createMemoryLogger().logger });
    const result = await processEvent({ eventId: event.id, accountId: null }, attempt);
    assert.deepEqual([result.status, result.alreadySettled], ['failed', true]);
    assert.equal(await statusOf(event.id), 'failed');
    assert.equal((await getInvoice(t, invoice.id)).status, 'open', 'the payment was not applied by the stray run');
  });
});
