import { EX_CONFIG, StartupError } from '../shared/errors.js';
import { accountScope } from '../shared/account-scope.js';
import { CLUSTER_SLOTS, hashedPart, keySlot } from './key-slot.js';

/** The event queue; with QUEUE_SHARDS > 1, shard 0 keeps this name and shard i is `stripe-events-<i>`. */
export const EVENT_QUEUE_NAME = 'stripe-events';

export interface QueueLayoutOptions {
  /** QUEUE_PREFIX. */
  prefix: string;
  /** QUEUE_SHARDS. */
  shards: number;
  /** REDIS_URL names a Redis Cluster. */
  cluster: boolean;
}

/**
 * Where each BullMQ queue's keys live, and which event queue (shard) an event goes to.
 *
 * BullMQ names a queue's keys `<prefix>:<queue>:<suffix>` and runs Lua scripts over several of
 * them at once, which Redis Cluster allows only within one hash slot. So on a cluster every queue
 * gets a prefix of its own holding a hash tag, `{<QUEUE_PREFIX>:<queue>}`: all of a queue's keys
 * in one slot, and different queues in different slots (spread over the masters). On one Redis
 * nothing changes: the prefix is QUEUE_PREFIX, as before.
 *
 * The event queue may be split into QUEUE_SHARDS queues so that it is not one slot (one master's
 * CPU) however big the cluster. On a cluster each shard's tag is picked so its slot falls in its
 * own share of the 16384 slots (shard i near slot (i + ½)·16384/N): `redis-cli --cluster create`
 * gives each master a contiguous equal range, so N shards spread over the masters as evenly as N
 * allows, the same in every process (the names depend on QUEUE_PREFIX and QUEUE_SHARDS only,
 * never on the cluster's state).
 *
 * A QUEUE_PREFIX that already holds braces is taken as the operator's own hash tag and used as
 * it is (the advice before clusters were supported here: `{billed}`): every queue then shares
 * its slot, so it must be a well-formed tag, and it cannot carry more than one shard.
 */
export interface QueueLayout {
  readonly cluster: boolean;
  readonly shards: number;
  /** The event queues, shard 0 first: workers consume all of them, the queue UI lists all of them. */
  readonly eventQueues: readonly string[];
  /** The BullMQ prefix of a queue. */
  prefixOf(queue: string): string;
  /** The shard an event goes to: its account and what its effect locks (see shardOf). */
  eventQueueOf(event: { id: string; accountId: string | null; routingKey?: string | null }): string;
  isEventQueue(name: string): boolean;
}

/**
 * FNV-1a over the text, then murmur3's finaliser (FNV's low bits depend on the low bits of each
 * character only, and the shard is taken modulo a small number): 32 bits, the same in every
 * process and every version, as a waiting job's shard must be.
 */
function hash32(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}

/**
 * Which shard an event goes to: by its account and its routing key, the payment its effect
 * locks (src/events/stripe-event-envelope.ts), or the event id when it names none. All events of
 * one payment (payment_intent.*, charge.*, refunds, disputes) then go to one shard, so one
 * invoice's events are rarely run by two workers at once, and their batch transactions seldom
 * wait on each other's row locks; a big merchant's payments still spread over every shard,
 * which sharding by account alone would not do (and the default account would be one shard).
 * Nothing depends on it for correctness: the worker's row locks keep any split safe.
 */
export function shardOf(event: { id: string; accountId: string | null; routingKey?: string | null }, shards: number): number {
  if (shards <= 1) return 0;
  return hash32(`${accountScope(event.accountId)}\u0000${event.routingKey ?? event.id}`) % shards;
}

/** A hash tag for shard `shard` of `shards` whose slot is near the middle of its share of the slots. */
function spreadTag(base: string, shard: number, shards: number): string {
  if (shards === 1) return base;
  const share = CLUSTER_SLOTS / shards;
  const middle = (shard + 0.5) * share;
  // About 2·shards tries on average; deterministic, so every process finds the same tag.
  for (let k = 0; ; k++) {
    const tag = k === 0 ? base : `${base}~${k}`;
    if (Math.abs(keySlot(tag) - middle) <= share / 4) return tag;
  }
}

const eventQueueName = (shard: number) => (shard === 0 ? EVENT_QUEUE_NAME : `${EVENT_QUEUE_NAME}-${shard}`);

/** The key stem BullMQ builds from a prefix and a queue, and whether its hash tag closes inside it. */
function tagClosesInStem(prefix: string, queue: string): boolean {
  const stem = `${prefix}:${queue}:`;
  const hashed = hashedPart(`${stem}x`);
  return hashed !== `${stem}x` && stem.includes(`{${hashed}}`);
}

const configError = (message: string) => new StartupError(message, { variable: 'QUEUE_PREFIX', exitCode: EX_CONFIG });

/**
 * The layout for this configuration; on a cluster, refuses (EX_CONFIG, naming QUEUE_PREFIX) a
 * prefix whose keys would not share a slot per queue (every script would fail with CROSSSLOT),
 * or that would put every shard in one slot.
 */
export function createQueueLayout(options: QueueLayoutOptions, otherQueues: readonly string[] = []): QueueLayout {
  const { prefix, shards, cluster } = options;
  const eventQueues = Array.from({ length: shards }, (_, shard) => eventQueueName(shard));
  const ownTag = /[{}]/.test(prefix);
  const prefixes = new Map<string, string>();
  if (cluster && ownTag) {
    for (const queue of [...eventQueues, ...otherQueues]) {
      if (!tagClosesInStem(prefix, queue)) {
        throw configError(
          `QUEUE_PREFIX: "${prefix}" holds braces that are not a hash tag Redis Cluster can use (a non-empty {tag}): the keys of each queue would hash to different slots, and BullMQ's scripts fail with CROSSSLOT. ` +
            `Remove the braces (on a cluster the service tags each queue itself: {${prefix.replace(/[{}]/g, '') || 'billed'}:<queue>}), or write one well-formed tag such as {billed}.`,
        );
      }
    }
    if (shards > 1) {
      throw configError(
        `QUEUE_PREFIX: "${prefix}" holds its own hash tag ({${hashedPart(`${prefix}:x`)}}), so all ${shards} shards of QUEUE_SHARDS would share one slot, one master, which defeats sharding. ` +
          `Remove the braces (the service then gives each queue and shard a slot of its own), or set QUEUE_SHARDS=1.`,
      );
    }
  }
  const prefixOf = (queue: string): string => {
    if (!cluster || ownTag) return prefix;
    let found = prefixes.get(queue);
    if (found === undefined) {
      const shard = eventQueues.indexOf(queue);
      found = `{${shard >= 0 ? spreadTag(`${prefix}:${queue}`, shard, shards) : `${prefix}:${queue}`}}`;
      prefixes.set(queue, found);
    }
    return found;
  };
  const eventSet = new Set(eventQueues);
  return {
    cluster,
    shards,
    eventQueues,
    prefixOf,
    eventQueueOf: (event) => eventQueues[shardOf(event, shards)]!,
    isEventQueue: (name) => eventSet.has(name),
  };
}
