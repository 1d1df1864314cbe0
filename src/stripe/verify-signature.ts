import { createHmac, timingSafeEqual } from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import Stripe from 'stripe';
import { AppError } from '../shared/errors.js';

export const SIGNATURE_TOLERANCE_SECONDS = 300;

const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/** Stripe's scheme over the exact bytes: HMAC-SHA256 of "<t>.<body>" against each v1. */
function signedOverRawBytes(rawBody: Buffer, header: string, secrets: readonly string[], toleranceSeconds: number): boolean {
  const parts = header.split(',').map((part) => part.trim().split('='));
  const timestamp = Number(parts.find(([key]) => key === 't')?.[1]);
  if (!Number.isInteger(timestamp) || Math.abs(Date.now() / 1000 - timestamp) > toleranceSeconds) return false;
  const signatures = parts.filter(([key, value]) => key === 'v1' && value && /^[0-9a-f]{64}$/.test(value)).map(([, value]) => Buffer.from(value!, 'hex'));
  return secrets.some((secret) => {
    const expected = createHmac('sha256', secret).update(`${timestamp}.`).update(rawBody).digest();
    return signatures.some((signature) => timingSafeEqual(signature, expected));
  });
}

/**
 * Verifies `Stripe-Signature` over the raw bytes against each secret in turn
 * (several while a secret is rolled), and returns the parsed JSON.
 * Bad signature → 400 signature_invalid; signed but not JSON → 400 payload_invalid.
 */
export function verifyStripeSignature(
  rawBody: Buffer,
  header: string | undefined,
  secrets: readonly string[],
  toleranceSeconds = SIGNATURE_TOLERANCE_SECONDS,
): unknown {
  if (!header) {
    throw new AppError(400, 'signature_invalid', 'Missing Stripe-Signature header: send the request exactly as Stripe signed it.');
  }
  let lastError: Error | undefined;
  for (const secret of secrets) {
    try {
      return Stripe.webhooks.constructEvent(rawBody, header, secret, toleranceSeconds);
    } catch (error) {
      if (error instanceof Stripe.errors.StripeSignatureVerificationError) {
        lastError = error;
        continue;
      }
      // The signature matched, so Stripe (or someone with the secret) sent bytes that are not JSON.
      throw new AppError(400, 'payload_invalid', 'The body is signed but is not JSON: a Stripe event is a JSON object.');
    }
  }
  // stripe-node decodes the body as UTF-8 before signing it again, so bytes that are not UTF-8 (or a
  // byte-order mark) never match. Signed all the same, they are a bad payload, not a bad signature.
  if ((!isUtf8(rawBody) || rawBody.subarray(0, 3).equals(UTF8_BOM)) && signedOverRawBytes(rawBody, header, secrets, toleranceSeconds)) {
    throw new AppError(400, 'payload_invalid', 'The body is signed but is not UTF-8 JSON: a Stripe event is UTF-8 JSON without a byte-order mark.');
  }
  const stale = lastError?.message.includes('tolerance');
  throw new AppError(
    400,
    'signature_invalid',
    stale
      ? `Signature timestamp is older than ${toleranceSeconds} s: check the server clock, or resend the event from the Stripe Dashboard.`
      : 'No signature matches: check that STRIPE_WEBHOOK_SECRET (or the account\'s signing secret) is this endpoint\'s whsec_ secret and that the body reaches the service unmodified.',
  );
}
