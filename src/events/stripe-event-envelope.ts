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

export interface EventEnvelope {
  id: string;
  type: string;
  created: number;
  livemode: boolean;
  apiVersion: string | null;
  objectId: string | null;
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
  };
}
