import Stripe from 'stripe';
import { AppError } from '../shared/errors';

export const SIGNATURE_TOLERANCE_SECONDS = 300;

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
  const stale = lastError?.message.includes('tolerance');
  throw new AppError(
    400,
    'signature_invalid',
    stale
      ? `Signature timestamp is older than ${toleranceSeconds} s: check the server clock, or resend the event from the Stripe Dashboard.`
      : 'No signature matches: check that STRIPE_WEBHOOK_SECRET (or the account\'s signing secret) is this endpoint\'s whsec_ secret and that the body reaches the service unmodified.',
  );
}
