import { X509Certificate } from 'node:crypto';
import { AppError, describeError, echo } from '../shared/errors.js';

/**
 * PayPal's webhook signing certificates, fetched from `paypal-cert-url` and kept by URL.
 *
 * The URL comes with the delivery, so anyone can name one: it is fetched only from PayPal's own API
 * hosts, over https, at PayPal's certificate path; TLS to that host is what makes the file PayPal's
 * (as in PayPal's own offline check). The certificate is then checked each time it is used: valid
 * now (a cached one expires like any other) and issued to PayPal's signing name
 * (CN=messageverificationcerts[.sandbox].paypal.com, the rule PayPal's Java SDK applied).
 *
 * Not checked: the chain up to a root CA. The file is PayPal's by the TLS connection it came over,
 * and pinning PayPal's CA would break verification the day PayPal changes CA; the chain a test
 * fake serves (test/helpers/fake-paypal.ts) is shaped as PayPal's all the same.
 */

/** The hosts PayPal names in `paypal-cert-url` (live and sandbox, both API host names). */
export const PAYPAL_CERT_HOSTS = ['api.paypal.com', 'api-m.paypal.com', 'api.sandbox.paypal.com', 'api-m.sandbox.paypal.com'] as const;
/** The subject common names of PayPal's webhook signing certificates (live, sandbox). */
export const PAYPAL_SIGNING_CERT_NAMES = ['messageverificationcerts.paypal.com', 'messageverificationcerts.sandbox.paypal.com'] as const;
const CERT_PATH = '/v1/notifications/certs/';

export interface CertificateCacheOptions {
  /** PAYPAL_API_BASE (a local fake in tests): certificates are taken from its origin too, over http if it says so. */
  apiBase?: string;
  /** Accepted subject common names; PayPal's two by default (PAYPAL_CERT_COMMON_NAMES for a test CA). */
  commonNames?: readonly string[];
  /** Certificates kept at most; the least recently used goes first. */
  maxEntries?: number;
  /** A fetch that has not answered within this is given up (503: PayPal retries the delivery). */
  timeoutMs?: number;
  now?: () => Date;
}

const MAX_CERT_BYTES = 64 * 1024; // PayPal's chain is a few kB
/** A URL PayPal answered 4xx for is not asked again for this long: a flood of forged deliveries naming made-up certificates stays one request each. */
const REFUSED_FOR_MS = 60_000;

const invalid = (message: string) => new AppError(400, 'signature_invalid', message);

export function createCertificateCache(options: CertificateCacheOptions = {}) {
  const names = new Set(options.commonNames?.length ? options.commonNames : PAYPAL_SIGNING_CERT_NAMES);
  const maxEntries = options.maxEntries ?? 32;
  const timeoutMs = options.timeoutMs ?? 5000;
  const nowMs = () => (options.now ? options.now().getTime() : Date.now());
  const extraOrigin = options.apiBase ? new URL(options.apiBase).origin : undefined;
  const entries = new Map<string, { cert?: X509Certificate; refused?: AppError; until?: number }>();
  const inFlight = new Map<string, Promise<X509Certificate>>();

  /** The URL as a string to fetch, or a rejection saying why it is not PayPal's. */
  function checkUrl(certUrl: string): string {
    let url: URL;
    try {
      url = new URL(certUrl);
    } catch {
      throw invalid(`PAYPAL-CERT-URL is not a URL ("${echo(certUrl)}"): PayPal sends https://api.paypal.com/v1/notifications/certs/CERT-….`);
    }
    const fromFake = extraOrigin !== undefined && url.origin === extraOrigin;
    const fromPaypal = url.protocol === 'https:' && url.port === '' && (PAYPAL_CERT_HOSTS as readonly string[]).includes(url.hostname);
    if (!fromFake && !fromPaypal) {
      throw invalid(
        `PAYPAL-CERT-URL names a certificate at ${echo(url.origin)}, which is not PayPal's: certificates are taken only over https from ${PAYPAL_CERT_HOSTS.join(', ')}. The delivery did not come from PayPal.`,
      );
    }
    if (!url.pathname.startsWith(CERT_PATH) || url.username || url.password || url.search || url.hash) {
      throw invalid(`PAYPAL-CERT-URL is not one of PayPal's certificate addresses (${CERT_PATH}CERT-…, nothing after): "${echo(certUrl, 120)}".`);
    }
    return url.href;
  }

  async function download(url: string): Promise<X509Certificate> {
    let response: Response;
    let body: string;
    try {
      response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'error' });
      body = await readLimited(response);
    } catch (error) {
      throw new AppError(503, 'paypal_certificate_unavailable', `PayPal's signing certificate could not be fetched from ${url} (${describeError(error)}); nothing was stored. PayPal retries the delivery.`);
    }
    if (response.status >= 400 && response.status < 500) {
      throw invalid(`PayPal has no certificate at ${url} (HTTP ${response.status}): the delivery names a certificate PayPal never issued.`);
    }
    if (!response.ok) {
      throw new AppError(503, 'paypal_certificate_unavailable', `PayPal answered HTTP ${response.status} for its signing certificate at ${url}; nothing was stored. PayPal retries the delivery.`);
    }
    // PayPal serves the signing certificate first, then its issuers.
    const first = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(body)?.[0];
    try {
      if (!first) throw new Error('no PEM certificate in the answer');
      return new X509Certificate(first);
    } catch (error) {
      throw invalid(`The certificate at ${url} could not be read (${describeError(error)}).`);
    }
  }

  async function readLimited(response: Response): Promise<string> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of response.body ?? []) {
      size += (chunk as Uint8Array).length;
      if (size > MAX_CERT_BYTES) throw new Error(`the answer is larger than ${MAX_CERT_BYTES} bytes`);
      chunks.push(Buffer.from(chunk as Uint8Array));
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  function remember(url: string, entry: { cert?: X509Certificate; refused?: AppError; until?: number }) {
    entries.delete(url);
    entries.set(url, entry);
    while (entries.size > maxEntries) entries.delete(entries.keys().next().value!);
  }

  /** The certificate at `url`, from the cache or fetched once (concurrent deliveries share one fetch). */
  async function load(url: string): Promise<X509Certificate> {
    const entry = entries.get(url);
    if (entry?.cert) {
      remember(url, entry); // most recently used
      return entry.cert;
    }
    if (entry?.refused && entry.until! > nowMs()) throw entry.refused;
    let pending = inFlight.get(url);
    if (!pending) {
      pending = download(url).then(
        (cert) => {
          remember(url, { cert });
          return cert;
        },
        (error: unknown) => {
          // A 4xx (or an unreadable file) is PayPal's answer: kept for a minute. A network failure is not kept.
          if (error instanceof AppError && error.status === 400) remember(url, { refused: error, until: nowMs() + REFUSED_FOR_MS });
          throw error;
        },
      );
      inFlight.set(url, pending);
      void pending.finally(() => inFlight.delete(url)).catch(() => undefined);
    }
    return pending;
  }

  /** Valid now, and issued to PayPal's signing name: checked at each use, cached or not. */
  function check(cert: X509Certificate, url: string): X509Certificate {
    const now = nowMs();
    const from = Date.parse(cert.validFrom);
    const to = Date.parse(cert.validTo);
    if (!(from <= now)) throw invalid(`The certificate at ${url} is not valid yet (valid from ${cert.validFrom}): check this server's clock.`);
    if (!(now <= to)) throw invalid(`The certificate at ${url} expired on ${cert.validTo}: PayPal signs with a current one, so this delivery is old or forged.`);
    const commonName = cert.subject.split('\n').find((line) => line.startsWith('CN='))?.slice(3) ?? '';
    if (!names.has(commonName)) {
      throw invalid(`The certificate at ${url} is issued to "${echo(commonName)}", not to PayPal's webhook signing name (${[...names].join(' or ')}).`);
    }
    return cert;
  }

  return {
    /** The checked certificate named by `paypal-cert-url`: 400 signature_invalid saying what is wrong, or 503 when PayPal could not be reached. */
    async get(certUrl: string): Promise<X509Certificate> {
      const url = checkUrl(certUrl);
      return check(await load(url), url);
    },
    /** How many certificates are kept (tests: the bound). */
    size: () => entries.size,
  };
}

export type CertificateCache = ReturnType<typeof createCertificateCache>;
