import { constants, publicDecrypt, verify, type X509Certificate } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { AppError, echo } from '../shared/errors.js';
import { createCertificateCache, type CertificateCache, type CertificateCacheOptions } from './signing-certificates.js';

/**
 * PayPal webhook signatures, checked offline.
 *
 * PayPal signs each delivery with the private key of its certificate (RSA-SHA256, "SHA256withRSA"):
 * the signed string is `<transmission id>|<transmission time>|<webhook id>|<CRC32 of the raw body,
 * in decimal>`, the signature is base64 in PAYPAL-TRANSMISSION-SIG, and PAYPAL-CERT-URL says where
 * the certificate is. The webhook id is the one PayPal gave the webhook this service created for the
 * account (stored with the connection): a delivery signed for another webhook, another merchant's
 * included, does not verify here.
 *
 * Offline, not PayPal's verify-webhook-signature API: that API is a round trip to PayPal per
 * delivery (and an OAuth token per account to make it with), so each delivery would wait on
 * PayPal's API and fail while it is slow or down, when deliveries are the thing to keep taking.
 * Offline, a delivery costs a CRC and an RSA verification; the certificate is fetched once per
 * URL and kept (src/paypal/signing-certificates.ts). The API remains a way to check by hand, and
 * the fake PayPal answers it the same way (test/helpers/fake-paypal.ts).
 *
 * Every bad signature is 400 signature_invalid with what was wrong, as for Stripe; PayPal retries
 * a delivery that is not answered 2xx, so a delivery refused for a cause on this side (the
 * certificate could not be fetched: 503) comes again.
 */

/** As Stripe's: a delivery transmitted longer ago than this (or this far in the future) is refused, so a captured one cannot be replayed later. */
export const PAYPAL_SIGNATURE_TOLERANCE_SECONDS = 300;
export const PAYPAL_AUTH_ALGO = 'SHA256withRSA';

/** The headers PayPal signs with, as Node gives them (lower case). */
export const PAYPAL_SIGNATURE_HEADERS = ['paypal-transmission-id', 'paypal-transmission-time', 'paypal-transmission-sig', 'paypal-cert-url', 'paypal-auth-algo'] as const;

export type DeliveryHeaders = Record<string, string | string[] | undefined>;

export interface PaypalWebhookEvent {
  id: string;
  event_type: string;
  resource?: unknown;
  [key: string]: unknown;
}

export interface VerifiedDelivery {
  event: PaypalWebhookEvent;
  /** Which of the account's webhook ids signed it (the current one, or one still in its grace period after a roll). */
  webhookId: string;
  transmissionId: string;
}

export interface PaypalVerifierOptions extends CertificateCacheOptions {
  toleranceSeconds?: number;
  /** Shared with others (tests); made from the options otherwise. */
  certificates?: CertificateCache;
}

const invalid = (message: string) => new AppError(400, 'signature_invalid', message);

/** The DER prefix of a SHA-256 DigestInfo (RFC 8017 9.2): what PKCS#1 v1.5 signs ahead of the hash. */
const SHA256_DIGEST_INFO = Buffer.from('3031300d060960864801650304020105000420', 'hex');

/** The signed string for one webhook id. */
export const signedString = (transmissionId: string, transmissionTime: string, webhookId: string, rawBody: Buffer) =>
  `${transmissionId}|${transmissionTime}|${webhookId}|${crc32(rawBody)}`;

export function createPaypalSignatureVerifier(options: PaypalVerifierOptions = {}) {
  const certificates = options.certificates ?? createCertificateCache(options);
  const tolerance = options.toleranceSeconds ?? PAYPAL_SIGNATURE_TOLERANCE_SECONDS;
  const nowMs = () => (options.now ? options.now().getTime() : Date.now());

  /** One value per header: a header sent twice is not PayPal's. */
  function headersOf(headers: DeliveryHeaders) {
    const missing = PAYPAL_SIGNATURE_HEADERS.filter((name) => {
      const value = headers[name];
      return typeof value !== 'string' || value.trim() === '';
    });
    if (missing.length > 0) {
      throw invalid(`Missing ${missing.map((name) => name.toUpperCase()).join(', ')} header${missing.length > 1 ? 's' : ''}: PayPal sends all of ${PAYPAL_SIGNATURE_HEADERS.map((n) => n.toUpperCase()).join(', ')} with every delivery; forward them unchanged.`);
    }
    const [transmissionId, transmissionTime, signature, certUrl, algorithm] = PAYPAL_SIGNATURE_HEADERS.map((name) => (headers[name] as string).trim()) as [string, string, string, string, string];
    return { transmissionId, transmissionTime, signature, certUrl, algorithm };
  }

  function checkTime(transmissionTime: string): void {
    const at = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(transmissionTime) ? Date.parse(transmissionTime) : NaN;
    if (!Number.isFinite(at)) throw invalid(`PAYPAL-TRANSMISSION-TIME "${echo(transmissionTime)}" is not a date-time such as 2026-11-30T10:00:00Z.`);
    const age = (nowMs() - at) / 1000;
    if (age > tolerance) {
      throw invalid(`The delivery was transmitted at ${transmissionTime}, more than ${tolerance} s ago: a replayed delivery, or this server's clock is wrong. PayPal retries with a new transmission; check the clock if every delivery says so.`);
    }
    if (age < -tolerance) throw invalid(`The delivery says it was transmitted at ${transmissionTime}, more than ${tolerance} s from now: check this server's clock.`);
  }

  /**
   * Why no webhook id verifies, in words. A signature the certificate's key did make (its PKCS#1
   * block opens to a SHA-256 digest) over another string means the string differs: the body was
   * changed on the way (its CRC32 with it), or the transmission id or time, or it was signed for
   * another webhook. Anything else was not made with this certificate's key.
   */
  function mismatch(cert: X509Certificate, signature: Buffer, certUrl: string): AppError {
    let made: boolean;
    try {
      const block = publicDecrypt({ key: cert.publicKey, padding: constants.RSA_PKCS1_PADDING }, signature);
      made = block.length === SHA256_DIGEST_INFO.length + 32 && block.subarray(0, SHA256_DIGEST_INFO.length).equals(SHA256_DIGEST_INFO);
    } catch {
      made = false;
    }
    return invalid(
      made
        ? `The signature is PayPal's but not over this delivery: the body was changed on the way (its CRC32 no longer matches), or the transmission id or time, or it was signed for another webhook than this account's. Make the raw body reach the service unmodified (no re-encoding by a proxy).`
        : `The signature does not match: it was not made with the key of the certificate at ${certUrl}. The delivery did not come from PayPal.`,
    );
  }

  return {
    /**
     * Verifies a delivery against the account's webhook ids (the current one, and a previous one
     * within its grace period), and returns the parsed event. 400 signature_invalid (what was
     * wrong), 400 payload_invalid (signed, but not a PayPal event), 503 webhook_not_configured
     * (the account has no webhook id), 503 paypal_certificate_unavailable.
     */
    async verify(rawBody: Buffer, headers: DeliveryHeaders, webhookIds: readonly string[]): Promise<VerifiedDelivery> {
      const { transmissionId, transmissionTime, signature, certUrl, algorithm } = headersOf(headers);
      if (algorithm.toLowerCase() !== PAYPAL_AUTH_ALGO.toLowerCase()) {
        throw invalid(`Unknown PAYPAL-AUTH-ALGO "${echo(algorithm)}": PayPal signs with ${PAYPAL_AUTH_ALGO}.`);
      }
      checkTime(transmissionTime);
      if (webhookIds.length === 0) {
        // Not stored, so not 2xx: PayPal retries while the connection is fixed.
        throw new AppError(503, 'webhook_not_configured', 'This account has no PayPal webhook id to verify deliveries with: connect PayPal again with PUBLIC_BASE_URL set, so the webhook is created.');
      }
      const sig = /^[A-Za-z0-9+/]+={0,2}$/.test(signature) ? Buffer.from(signature, 'base64') : undefined;
      if (!sig || sig.length === 0) throw invalid('PAYPAL-TRANSMISSION-SIG is not base64: forward the header exactly as PayPal sent it.');
      const cert = await certificates.get(certUrl);
      const webhookId = webhookIds.find((id) => verify('sha256', Buffer.from(signedString(transmissionId, transmissionTime, id, rawBody), 'utf8'), cert.publicKey, sig));
      if (!webhookId) throw mismatch(cert, sig, certUrl);

      let event: unknown;
      try {
        event = JSON.parse(rawBody.toString('utf8'));
      } catch {
        throw new AppError(400, 'payload_invalid', 'The body is signed by PayPal but is not JSON: a PayPal event is a JSON object.');
      }
      const { id, event_type: type } = (event ?? {}) as { id?: unknown; event_type?: unknown };
      if (typeof event !== 'object' || event === null || Array.isArray(event) || typeof id !== 'string' || !id || typeof type !== 'string' || !type) {
        throw new AppError(400, 'payload_invalid', 'The body is signed by PayPal but is not a PayPal event: expected a JSON object with "id" and "event_type".');
      }
      return { event: event as PaypalWebhookEvent, webhookId, transmissionId };
    },
  };
}

export type PaypalSignatureVerifier = ReturnType<typeof createPaypalSignatureVerifier>;
