import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stripeObjectBuilders, type StripeObjectType } from '../helpers/stripe-objects.js';

/**
 * Our Stripe object builders against Stripe's own OpenAPI fixtures
 * (fixtures3.json from stripe/openapi), so a builder that drifts from Stripe's
 * shape fails here. The fixtures are other projects' data and stay outside the
 * repository: in <repo>/../shared/stripe/ (CI has them), or under
 * BILLED_SHARED_DIR. Without them at the default place the suite is skipped,
 * saying why; a BILLED_SHARED_DIR without them is a mistake, and fails.
 */
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const SHARED_DIR_OVERRIDE = process.env.BILLED_SHARED_DIR;
const FIXTURES = join(resolve(REPO, SHARED_DIR_OVERRIDE || '../shared'), 'stripe', 'fixtures3.json');

/**
 * Top-level keys of Stripe's fixture that a builder deliberately leaves out,
 * each with the reason. None today: every builder carries all of the fixture's keys.
 */
const LEFT_OUT: Record<StripeObjectType, Record<string, string>> = {
  event: {},
  customer: {},
  payment_intent: {},
  charge: {},
  refund: {},
  dispute: {},
  'checkout.session': {},
  payout: {},
  balance_transaction: {},
};

const jsonType = (value: unknown) => (value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value);

/** How `ours` differs from Stripe's `fixture`: a missing `object` value or top-level key, or another JSON type where both have a value. */
export function shapeDifferences(ours: Record<string, unknown>, fixture: Record<string, unknown>, leftOut: Record<string, string> = {}): string[] {
  const differences: string[] = [];
  if (ours.object !== fixture.object) differences.push(`object is ${JSON.stringify(ours.object)}, Stripe's is ${JSON.stringify(fixture.object)}`);
  for (const [key, theirs] of Object.entries(fixture)) {
    if (key in leftOut) continue;
    if (!(key in ours)) {
      differences.push(`${key} is missing (Stripe's is ${jsonType(theirs)})`);
      continue;
    }
    const mine = ours[key];
    if (mine !== null && theirs !== null && jsonType(mine) !== jsonType(theirs)) {
      differences.push(`${key} is ${jsonType(mine)}, Stripe's is ${jsonType(theirs)}`);
    }
  }
  return differences;
}

describe('shapeDifferences, the check behind the Stripe object conformance suite', () => {
  const stripe = { object: 'charge', id: 'ch_1', amount: 100, refunds: { object: 'list' }, review: null, shipping: {} };

  it('finds nothing when every key is there with the same JSON type, a null on either side matching anything', () => {
    assert.deepEqual(shapeDifferences({ object: 'charge', id: 'ch_2', amount: 2000, refunds: { object: 'list' }, review: 'prv_1', shipping: null, extra: true }, stripe), []);
  });

  it('names a missing key, a key of another JSON type and another object value', () => {
    assert.deepEqual(shapeDifferences({ object: 'refund', id: 'ch_2', amount: '2000', review: null, shipping: null }, stripe), [
      `object is "refund", Stripe's is "charge"`,
      `amount is string, Stripe's is number`,
      `refunds is missing (Stripe's is object)`,
    ]);
  });

  it('passes over a key that is deliberately left out', () => {
    assert.deepEqual(shapeDifferences({ object: 'charge', id: 'ch_2', amount: 1, review: null, shipping: null }, stripe, { refunds: 'not expanded since 2022-11-15' }), []);
  });
});

describe("Stripe object builders against Stripe's OpenAPI fixtures", function () {
  let fixtures: Record<string, Record<string, unknown>>;

  before(function () {
    if (!existsSync(FIXTURES)) {
      if (SHARED_DIR_OVERRIDE) throw new Error(`BILLED_SHARED_DIR is ${SHARED_DIR_OVERRIDE}, but ${FIXTURES} does not exist`);
      console.log(`    skipped: ${relative(REPO, FIXTURES)} not found (Stripe's OpenAPI fixtures live outside this repository; CI has them)`);
      this.skip();
    }
    fixtures = (JSON.parse(readFileSync(FIXTURES, 'utf8')) as { resources: Record<string, Record<string, unknown>> }).resources;
  });

  for (const [type, build] of Object.entries(stripeObjectBuilders) as [StripeObjectType, () => unknown][]) {
    it(`${type}: has the object value and every top-level key of Stripe's fixture, with the same JSON types`, () => {
      const fixture = fixtures[type];
      assert.ok(fixture, `${relative(REPO, FIXTURES)} has no ${type}`);
      const differences = shapeDifferences(build() as Record<string, unknown>, fixture, LEFT_OUT[type]);
      assert.deepEqual(differences, [], `test/helpers/stripe-objects.ts builds a ${type} unlike Stripe's:\n  ${differences.join('\n  ')}`);
    });
  }
});
