import { z } from 'zod';
import { AppError } from '../shared/errors.js';

/**
 * The fields of a Stripe event the inbox needs, checked before anything is
 * stored. Lengths match the inbox columns so nothing is ever truncated, and the
 * id charset keeps it usable as a BullMQ jobId (which must not contain ':').
 */
const envelopeSchema = z.object({
  id: z.string().regex(/^evt_[A-Za-z0-9_-]{1,250}$/),
  object: z.literal('event'),
  type: z.string().regex(/^[a-z0-9_.]{1,255}$/),
  created: z.number().int().nonnegative(),
  livemode: z.boolean(),
  api_version: z.string().max(32).nullable().optional(),
  // Whatever the object holds, a signed event is stored (a 4xx would have Stripe retry it for days and
  // then disable the endpoint): its handler checks the fields it needs, and rejects the event if one is bad.
  data: z.unknown(),
});

/** data.object.id when it is one (a string that fits the column), for finding events by object; else null. */
function objectIdOf(data: unknown): string | null {
  const object = data && typeof data === 'object' ? (data as { object?: unknown }).object : undefined;
  const id = object && typeof object === 'object' ? (object as { id?: unknown }).id : undefined;
  return typeof id === 'string' && id.length <= 255 ? id : null;
}

const idOf = (value: unknown): string | undefined => {
  if (typeof value === 'string') return value;
  const id = value && typeof value === 'object' ? (value as { id?: unknown }).id : undefined;
  return typeof id === 'string' ? id : undefined;
};

/**
 * The payment an event is about, as far as its object says at a glance: the PaymentIntent a
 * charge, refund, dispute or checkout session names (`payment_intent`, an id or expanded), a
 * PaymentIntent's own id, else the charge (a charge's own id, a refund's or dispute's `charge`),
 * else the object's id (a payout). It picks the event's queue shard (src/redis/queue-layout.ts),
 * so the events of one payment meet in one shard; the handlers' lockTarget stays the authority
 * on what a transaction locks, and agrees with this for every handled type.
 */
export function routingKeyOf(data: unknown): string | null {
  const object = data && typeof data === 'object' ? (data as { object?: unknown }).object : undefined;
  if (!object || typeof object !== 'object') return null;
  const fields = object as { id?: unknown; object?: unknown; payment_intent?: unknown; charge?: unknown };
  const key = idOf(fields.payment_intent) ?? (fields.object === 'charge' ? idOf(fields.id) : idOf(fields.charge)) ?? idOf(fields.id);
  return key !== undefined && key.length <= 255 ? key : null;
}

export interface EventEnvelope {
  id: string;
  type: string;
  created: number;
  livemode: boolean;
  apiVersion: string | null;
  objectId: string | null;
  /** What picks the event's queue shard (routingKeyOf); absent: the event id does. */
  routingKey?: string | null;
}

export function parseEventEnvelope(json: unknown): EventEnvelope {
  const result = envelopeSchema.safeParse(json);
  if (!result.success) {
    const where = result.error.issues.map((issue) => issue.path.join('.') || 'body').join(', ');
    throw new AppError(
      400,
      'payload_invalid',
      `The body is signed but is not a Stripe event (check: ${where}). Send the event object as Stripe delivers it.`,
    );
  }
  const event = result.data;
  return {
    id: event.id,
    type: event.type,
    created: event.created,
    livemode: event.livemode,
    apiVersion: event.api_version ?? null,
    objectId: objectIdOf(event.data),
    routingKey: routingKeyOf(event.data),
  };
}
