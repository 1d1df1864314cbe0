import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import Stripe from 'stripe';

/** Stripe's own OpenAPI fixtures: the real shapes of events and objects. */
const fixtures = JSON.parse(
  readFileSync(new URL('../../../shared/stripe/fixtures3.json', import.meta.url), 'utf8'),
) as { resources: Record<string, Record<string, unknown>> };

export function stripeFixture<T = Record<string, unknown>>(resource: string): T {
  const fixture = fixtures.resources[resource];
  if (!fixture) throw new Error(`no Stripe fixture for ${resource}`);
  return structuredClone(fixture) as T;
}

export const uniqueId = (prefix: string) => `${prefix}_${randomBytes(10).toString('hex')}`;

export interface EventOptions {
  type: string;
  /** Which fixture object goes in data.object, e.g. 'charge' for charge.refunded. */
  resource: string;
  object?: Record<string, unknown>;
  id?: string;
  created?: number;
  livemode?: boolean;
}

/** A Stripe event shaped like the fixture event, carrying a fixture object with `object` merged over it. */
export function stripeEvent(options: EventOptions): Stripe.Event {
  const event = stripeFixture<Record<string, unknown>>('event');
  const dataObject = { ...stripeFixture(options.resource), ...options.object };
  return {
    ...event,
    id: options.id ?? uniqueId('evt'),
    type: options.type,
    created: options.created ?? Math.floor(Date.now() / 1000),
    livemode: options.livemode ?? false,
    api_version: '2025-10-29.clover',
    data: { object: dataObject },
  } as unknown as Stripe.Event;
}

export const TEST_WEBHOOK_SECRET = 'whsec_test_billed_0123456789abcdef';

/** Headers of a real Stripe delivery: the body as bytes and its HMAC signature. */
export function signedDelivery(payload: string, secret = TEST_WEBHOOK_SECRET, timestamp?: number) {
  return {
    payload,
    headers: {
      'content-type': 'application/json; charset=utf-8',
      'stripe-signature': Stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp }),
    },
  };
}
