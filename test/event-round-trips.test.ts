import assert from 'node:assert/strict';
import type { DataSource } from 'typeorm';
import { createEventProcessor } from '../src/events/process-event.js';
import { eventHandlers } from '../src/events/subscribed-events.js';
import { createDataSource } from '../src/db/data-source.js';
import { startTestService, type TestService } from './helpers/test-service.js';
import { createInvoice, deliver, getInvoice } from './helpers/billing-client.js';
import { paymentEvents } from './helpers/payment-events.js';
import { createMemoryLogger } from './helpers/memory-logger.js';

/**
 * A round trip to MySQL is what an event costs most (docs/performance.md): each is a write and a
 * wake-up on both sides. These are the counts the worker is built to: a regression shows here
 * before it shows as CPU.
 */
describe('round trips to MySQL per payment event', () => {
  let t: TestService;
  let dataSource: DataSource;
  let roundTrips = 0;

  before(async () => {
    // The API only: the processors below are the only ones.
    t = await startTestService({ ROLE: 'api' });
    dataSource = createDataSource(t.config.DATABASE_URL);
    await dataSource.initialize();
    // Every query sent, whichever runner sends it (DataSource.query makes one too).
    const create = dataSource.createQueryRunner.bind(dataSource);
    dataSource.createQueryRunner = (...args) => {
      const runner = create(...args);
      const query = runner.query.bind(runner);
      runner.query = ((...rest: unknown[]) => {
        roundTrips += 1;
        return (query as (...a: unknown[]) => Promise<unknown>)(...rest);
      }) as typeof runner.query;
      return runner;
    };
  });
  after(async () => {
    await dataSource?.destroy();
    await t?.stop();
  });

  it('a payment_intent.succeeded alone costs 4: its load; its payment and invoice locked; its status (guarded) with the facts read; the COMMIT with its history', async () => {
    const invoice = await createInvoice(t, { amountDue: 1000 });
    const event = paymentEvents({ invoiceId: invoice.id, amount: 1000 }).paymentIntent('payment_intent.succeeded');
    await deliver(t, event);
    const processEvent = createEventProcessor({ dataSource, registry: eventHandlers, logger: createMemoryLogger().logger });
    roundTrips = 0;
    const result = await processEvent({ eventId: event.id, accountId: null }, { number: 1, max: 3 });
    assert.equal(roundTrips, 4);
    assert.equal(result.status, 'processed');
    assert.equal((await getInvoice(t, invoice.id)).status, 'paid');
  });

  it('a batch costs 5 whatever its size: its load; its payments locked; their invoices locked; the statuses (guarded) with the facts read; the COMMIT with the history', async () => {
    const invoices = await Promise.all(Array.from({ length: 3 }, () => createInvoice(t, { amountDue: 100_000 })));
    const events = Array.from({ length: 12 }, (_, i) => paymentEvents({ invoiceId: invoices[i % 3]!.id, amount: 100 + i }).paymentIntent('payment_intent.succeeded'));
    for (const event of events) await deliver(t, event);
    const processEvent = createEventProcessor({ dataSource, registry: eventHandlers, logger: createMemoryLogger().logger, batch: { maxBatch: 16, lanes: 1 } });
    // A first event alone holds the one lane while the other eleven gather into one batch behind it.
    roundTrips = 0;
    const results = await Promise.all(events.map((event) => processEvent({ eventId: event.id, accountId: null }, { number: 1, max: 3 })));
    assert.ok(results.every((r) => r.status === 'processed'), JSON.stringify(results));
    assert.equal(roundTrips, 4 + 5);
    const paid = await Promise.all(invoices.map(async (invoice) => (await getInvoice(t, invoice.id)).amountPaid));
    assert.deepEqual(paid, [0, 1, 2].map((k) => [0, 1, 2, 3].reduce((sum, round) => sum + 100 + k + 3 * round, 0)));
  });
});
