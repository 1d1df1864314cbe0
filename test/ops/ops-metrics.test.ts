import assert from 'node:assert/strict';
import { startTestService, type TestService } from '../helpers/test-service.js';
import { uniqueDatabaseUrl } from '../helpers/test-database.js';

const gauge = (text: string, name: string): number => {
  const match = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  assert.ok(match, `${name} is exported`);
  return Number(match[1]);
};

describe('alerting metrics in /metrics', () => {
  let t: TestService;
  before(async () => {
    // API only: no worker drains the inbox, so the rows below stay as written.
    t = await startTestService({ DATABASE_URL: uniqueDatabaseUrl('ops_metrics'), ROLE: 'api', RELAY_AFTER_MS: '60000' });
  });
  after(() => t.stop());

  const insert = (id: string, status: string, secondsAgo: number) =>
    t.query(
      `INSERT INTO stripe_events (id, type, livemode, stripe_created, payload, status, ingest_batch, received_at)
       VALUES (?, 'charge.succeeded', 0, 0, '{}', ?, 'x', NOW(3) - INTERVAL ? SECOND)`,
      [id, status, secondsAgo],
    );

  it('reads zero on an empty inbox', async () => {
    const text = (await t.http.get('/metrics')).text;
    assert.equal(gauge(text, 'billed_events_failed'), 0);
    assert.equal(gauge(text, 'billed_events_oldest_unprocessed_age_seconds'), 0);
    assert.equal(gauge(text, 'billed_events_relay_backlog'), 0);
  });

  it('exports failed events, the age of the oldest unprocessed one, and the relay backlog', async () => {
    await insert('evt_metrics_failed_1', 'failed', 5);
    await insert('evt_metrics_failed_2', 'failed', 7200);
    await insert('evt_metrics_processed', 'processed', 9000);
    await insert('evt_metrics_stuck_1', 'received', 600);
    await insert('evt_metrics_stuck_2', 'received', 120);
    await insert('evt_metrics_fresh', 'received', 1);
    await new Promise((resolve) => setTimeout(resolve, 1100)); // past the gauges' one-second cache
    const text = (await t.http.get('/metrics')).text;
    assert.equal(gauge(text, 'billed_events_failed'), 2);
    const age = gauge(text, 'billed_events_oldest_unprocessed_age_seconds');
    assert.ok(age >= 600 && age < 660, `oldest age ${age}`);
    assert.equal(gauge(text, 'billed_events_relay_backlog'), 2, 'received for longer than RELAY_AFTER_MS');
  });
});
