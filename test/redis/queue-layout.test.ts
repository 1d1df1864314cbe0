import assert from 'node:assert/strict';
import { loadConfig, ConfigError } from '../../config/env.schema.js';
import { parseRedisUrl } from '../../config/redis-url.js';
import { keySlot } from '../../src/redis/key-slot.js';
import { createQueueLayout, EVENT_QUEUE_NAME, shardOf } from '../../src/redis/queue-layout.js';
import { routingKeyOf } from '../../src/events/stripe-event-envelope.js';
import { routingKeyOfPayload } from '../../src/events/routing-key.js';
import { parsePaypalEnvelope } from '../../src/paypal/paypal-event-envelope.js';
import type { PaypalWebhookEvent } from '../../src/paypal/verify-signature.js';
import { captureResource, disputeResource, orderResource, paypalEvent, paypalId, refundResource } from '../helpers/paypal-events.js';
import { startupFailure } from '../../src/runtime/startup-errors.js';
import { paymentEvents } from '../helpers/payment-events.js';
import { ServiceProcess, exitWithin } from '../helpers/service-process.js';
import { freePort } from '../helpers/free-port.js';
import { stripeEvent, uniqueId } from '../helpers/stripe-events.js';

const OTHER_QUEUES = ['payout-reconciliation', 'maintenance', 'stripe-sync'];
/** BullMQ's key suffixes, a job's key and its lock: what one script may touch at once. */
const SUFFIXES = ['wait', 'active', 'meta', 'events', 'delayed', 'completed', 'failed', 'id', 'stalled-check', 'evt_1Abc', 'evt_1Abc:lock'];
/** The slot ranges `redis-cli --cluster create` gives three masters. */
const THREE_MASTERS = [
  [0, 5460],
  [5461, 10922],
  [10923, 16383],
] as const;
const masterOf = (slot: number) => THREE_MASTERS.findIndex(([from, to]) => slot >= from && slot <= to);

/** How start-up reports a layout error: the process's message and exit code. */
function refusal(make: () => unknown): { exitCode: number; message: string } {
  try {
    make();
  } catch (error) {
    return startupFailure(error);
  }
  assert.fail('the layout was accepted');
}

describe('Redis Cluster key slots', () => {
  it('computes the slot Redis computes (the cluster spec test vectors, and hash tags)', () => {
    assert.equal(keySlot('123456789'), 12739);
    assert.equal(keySlot('foo'), 12182);
    assert.equal(keySlot('{user1000}.following'), keySlot('{user1000}.followers'));
    assert.equal(keySlot('{user1000}.following'), 3443);
    // An empty tag is no tag: the whole key is hashed.
    assert.equal(keySlot('a{}b'), 13694);
  });
});

describe('REDIS_URL', () => {
  it('reads a cluster as its seed nodes, with credentials and TLS', () => {
    assert.deepEqual(parseRedisUrl('redis+cluster://10.0.0.1:7000,10.0.0.2:7001, [::1]:7002'), {
      kind: 'cluster',
      nodes: [
        { host: '10.0.0.1', port: 7000 },
        { host: '10.0.0.2', port: 7001 },
        { host: '::1', port: 7002 },
      ],
      tls: false,
      address: '10.0.0.1:7000,10.0.0.2:7001,[::1]:7002 (cluster)',
      host: '10.0.0.1',
    });
    const tls = parseRedisUrl('rediss+cluster://app:p%40ss@redis.example.com/');
    assert.ok(!('problem' in tls) && tls.kind === 'cluster');
    assert.deepEqual([tls.nodes, tls.username, tls.password, tls.tls], [[{ host: 'redis.example.com', port: 6379 }], 'app', 'p@ss', true]);
  });

  it('refuses a cluster URL it cannot use, naming REDIS_URL and saying how to write it', () => {
    const problems = (value: string) => {
      try {
        loadConfig({ REDIS_URL: value });
      } catch (error) {
        assert.ok(error instanceof ConfigError);
        return error.problems;
      }
      assert.fail(`${value} was accepted`);
    };
    assert.deepEqual(problems('redis+cluster://10.0.0.1:7000/2'), ['REDIS_URL a Redis Cluster has only database 0: remove "/2"']);
    assert.deepEqual(problems('redis+cluster://'), [
      'REDIS_URL names no cluster node: write redis+cluster://host:port,host:port (any of the nodes will do; list several in case one is down)',
    ]);
    assert.match(problems('redis+cluster://10.0.0.1:99999')[0]!, /^REDIS_URL "10\.0\.0\.1:99999" has a port outside 1-65535/);
    assert.match(problems('memcached://127.0.0.1')[0]!, /^REDIS_URL must be a URL like redis:\/\/127\.0\.0\.1:6379, or redis\+cluster:\/\//);
    // The one-Redis form is what it was.
    assert.equal(loadConfig({ REDIS_URL: 'rediss://:pw@cache.example.com:6380/1' }).REDIS_URL, 'rediss://:pw@cache.example.com:6380/1');
  });
});

describe('queue layout', () => {
  it('on one Redis, with one shard, keeps the names and prefix of every existing deployment', () => {
    const layout = createQueueLayout({ prefix: 'billed', shards: 1, cluster: false }, OTHER_QUEUES);
    assert.deepEqual(layout.eventQueues, [EVENT_QUEUE_NAME]);
    assert.equal(EVENT_QUEUE_NAME, 'stripe-events');
    for (const queue of [EVENT_QUEUE_NAME, ...OTHER_QUEUES]) assert.equal(layout.prefixOf(queue), 'billed');
  });

  it('with shards, keeps stripe-events as shard 0 (its waiting jobs are still consumed) and names the others stripe-events-<n>', () => {
    const layout = createQueueLayout({ prefix: 'billed', shards: 4, cluster: false });
    assert.deepEqual(layout.eventQueues, ['stripe-events', 'stripe-events-1', 'stripe-events-2', 'stripe-events-3']);
    assert.equal(layout.prefixOf('stripe-events-3'), 'billed');
    assert.ok(layout.isEventQueue('stripe-events-2') && !layout.isEventQueue('stripe-events-4') && !layout.isEventQueue('payout-reconciliation'));
  });

  it('on a cluster, puts each queue\'s keys in one slot, every queue and shard in a slot of its own, and four shards on all three masters', () => {
    const layout = createQueueLayout({ prefix: 'billed', shards: 4, cluster: true }, OTHER_QUEUES);
    const slots = new Map<string, number>();
    for (const queue of [...layout.eventQueues, ...OTHER_QUEUES]) {
      const prefix = layout.prefixOf(queue);
      assert.match(prefix, /^\{billed:[a-z-]+(-\d)?(~\d+)?\}$/, `${queue}: a hash tag naming the prefix and the queue`);
      const keySlots = new Set(SUFFIXES.map((suffix) => keySlot(`${prefix}:${queue}:${suffix}`)));
      assert.equal(keySlots.size, 1, `every key of ${queue} in one slot (no CROSSSLOT)`);
      slots.set(queue, [...keySlots][0]!);
    }
    assert.equal(new Set(slots.values()).size, slots.size, 'no two queues share a slot');
    const shardMasters = layout.eventQueues.map((queue) => masterOf(slots.get(queue)!));
    assert.deepEqual(new Set(shardMasters), new Set([0, 1, 2]), `shards on masters ${shardMasters}`);
    // Three shards: one per master.
    const three = createQueueLayout({ prefix: 'billed', shards: 3, cluster: true });
    assert.deepEqual(three.eventQueues.map((queue) => masterOf(keySlot(three.prefixOf(queue)))), [0, 1, 2]);
    // The same in every process: names depend on the configuration only.
    const again = createQueueLayout({ prefix: 'billed', shards: 4, cluster: true }, OTHER_QUEUES);
    assert.deepEqual(again.eventQueues.map(again.prefixOf), layout.eventQueues.map(layout.prefixOf));
  });

  it('on a cluster, takes a QUEUE_PREFIX with its own well-formed hash tag as it is, with one shard', () => {
    const layout = createQueueLayout({ prefix: '{billed}', shards: 1, cluster: true }, OTHER_QUEUES);
    assert.equal(layout.prefixOf(EVENT_QUEUE_NAME), '{billed}');
    assert.equal(layout.prefixOf('stripe-sync'), '{billed}');
  });

  it('on a cluster, refuses a QUEUE_PREFIX whose braces would spread a queue\'s keys over slots (CROSSSLOT), exit 78 naming it', () => {
    for (const prefix of ['{}billed', 'bil{led', 'billed}']) {
      const { exitCode, message } = refusal(() => createQueueLayout({ prefix, shards: 1, cluster: true }, OTHER_QUEUES));
      assert.equal(exitCode, 78, prefix);
      assert.match(message, /^QUEUE_PREFIX: "[^"]+" holds braces that are not a hash tag Redis Cluster can use .* CROSSSLOT\. Remove the braces/, prefix);
    }
    // On one Redis there are no slots: the same prefixes work.
    assert.equal(createQueueLayout({ prefix: '{}billed', shards: 1, cluster: false }).prefixOf(EVENT_QUEUE_NAME), '{}billed');
  });

  it('stops `npm start` on a cluster with such a QUEUE_PREFIX: exit 78 naming it, before opening the database or Redis', async function () {
    this.timeout(30_000);
    // Nothing listens at either address: the layout is refused before either is tried.
    const service = ServiceProcess.spawn('service', 'all', {
      PORT: '0',
      DATABASE_URL: `mysql://root@127.0.0.1:${await freePort()}/billed`,
      REDIS_URL: `redis+cluster://127.0.0.1:${await freePort()},127.0.0.1:${await freePort()}`,
      QUEUE_PREFIX: '{}billed',
    });
    try {
      const { code } = await exitWithin(service, 20_000);
      assert.equal(code, 78, service.tail());
      assert.match(service.tail(), /^QUEUE_PREFIX: "\{\}billed" holds braces that are not a hash tag Redis Cluster can use/m);
      assert.doesNotMatch(service.tail(), /DATABASE_URL/);
    } finally {
      await service.kill();
    }
  });

  it('on a cluster, refuses shards that a QUEUE_PREFIX hash tag would put in one slot, exit 78 naming it', () => {
    const { exitCode, message } = refusal(() => createQueueLayout({ prefix: '{billed}', shards: 4, cluster: true }));
    assert.equal(exitCode, 78);
    assert.match(message, /^QUEUE_PREFIX: "\{billed\}" holds its own hash tag \(\{billed\}\), so all 4 shards of QUEUE_SHARDS would share one slot, one master, which defeats sharding\. Remove the braces .* or set QUEUE_SHARDS=1\.$/);
  });
});

describe('event shard choice', () => {
  it('is stable: the same event goes to the same shard in every process and version', () => {
    // Fixed values: a change of the hash would strand waiting jobs in shards nobody adds to any more.
    assert.equal(shardOf({ id: 'evt_1', accountId: null, routingKey: 'pi_3Q0abc' }, 4), shardOf({ id: 'evt_2', accountId: null, routingKey: 'pi_3Q0abc' }, 4));
    assert.deepEqual(
      ['pi_1', 'pi_2', 'pi_3', 'pi_4', 'pi_5', 'pi_6'].map((routingKey) => shardOf({ id: 'evt_x', accountId: null, routingKey }, 4)),
      [0, 3, 3, 3, 3, 2],
    );
    assert.equal(shardOf({ id: 'evt_x', accountId: 'acct_1', routingKey: 'pi_1' }, 4), 3);
    assert.equal(shardOf({ id: 'evt_x', accountId: null, routingKey: 'pi_1' }, 1), 0);
  });

  it('spreads payments evenly over the shards, the default account\'s as well as a merchant\'s, random ids or sequential ones', () => {
    for (const accountId of [null, 'acct_big_merchant']) {
      for (const id of [() => uniqueId('pi'), (i: number) => `pi_${i}`]) {
        const counts = [0, 0, 0, 0];
        for (let i = 0; i < 20_000; i++) counts[shardOf({ id: `evt_${i}`, accountId, routingKey: id(i) }, 4)]! += 1;
        for (const count of counts) assert.ok(count > 4500 && count < 5500, `${accountId ?? 'default'}: ${counts}`);
      }
    }
  });

  it('puts every event of one payment in one shard: the PaymentIntent, its charge, refunds and disputes', () => {
    for (let i = 0; i < 50; i++) {
      const payment = paymentEvents({ invoiceId: `inv_${i}`, amount: 1000 });
      const events = [
        payment.paymentIntent('payment_intent.succeeded'),
        payment.charge('charge.succeeded'),
        payment.charge('charge.refunded', { amountRefunded: 500 }),
        stripeEvent({ type: 'refund.created', resource: 'refund', object: { payment_intent: payment.paymentIntentId, charge: payment.chargeId } }),
        stripeEvent({ type: 'charge.dispute.created', resource: 'dispute', object: { payment_intent: payment.paymentIntentId, charge: payment.chargeId } }),
      ];
      const keys = new Set(events.map((event) => routingKeyOf(event.data)));
      assert.deepEqual([...keys], [payment.paymentIntentId], events.map((event) => event.type).join(', '));
    }
    // A charge made without a PaymentIntent, and its refund: the charge.
    assert.equal(routingKeyOf({ object: { id: 'ch_1', object: 'charge', payment_intent: null } }), 'ch_1');
    assert.equal(routingKeyOf({ object: { id: 're_1', object: 'refund', payment_intent: null, charge: 'ch_1' } }), 'ch_1');
    assert.equal(routingKeyOf({ object: { id: 'po_1', object: 'payout' } }), 'po_1');
    assert.equal(routingKeyOf({ object: 'not an object' }), null);
  });

  it('puts every event of one PayPal payment in one shard, by its capture: completed, refunded, reversed, disputed, and its order once captured', () => {
    for (let i = 0; i < 50; i++) {
      const captureId = paypalId();
      const capture = captureResource({ id: captureId, value: '10.00', customId: `inv_${i}` });
      const events = [
        paypalEvent('PAYMENT.CAPTURE.COMPLETED', capture),
        paypalEvent('PAYMENT.CAPTURE.REFUNDED', refundResource({ value: '4.00', captureId })),
        paypalEvent('PAYMENT.CAPTURE.REVERSED', refundResource({ value: '6.00', captureId })),
        paypalEvent('CUSTOMER.DISPUTE.CREATED', disputeResource({ value: '10.00', captureId })),
        paypalEvent('CHECKOUT.ORDER.APPROVED', orderResource({ value: '10.00', customId: `inv_${i}`, status: 'COMPLETED', captures: [capture] })),
      ];
      // As the intake chooses it, and as the relay and replay choose it again from the stored payload.
      for (const event of events) {
        assert.equal(parsePaypalEnvelope(event as unknown as PaypalWebhookEvent, false).routingKey, captureId, String(event.event_type));
        assert.equal(routingKeyOfPayload(JSON.stringify(event)), captureId, String(event.event_type));
      }
    }
    // An order approved before any capture names no payment yet: its own event id picks the shard.
    const approved = paypalEvent('CHECKOUT.ORDER.APPROVED', orderResource({ value: '10.00', status: 'APPROVED' }));
    assert.equal(routingKeyOfPayload(JSON.stringify(approved)), null);
    // A stored Stripe event still goes by its payment, and a payload that does not parse by its id.
    const payment = paymentEvents({ invoiceId: 'inv_s', amount: 1000 });
    assert.equal(routingKeyOfPayload(JSON.stringify(payment.charge('charge.succeeded'))), payment.paymentIntentId);
    assert.equal(routingKeyOfPayload('{not json'), null);
  });
});
