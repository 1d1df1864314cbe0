import { generateKeyPairSync, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';

/**
 * X.509 certificates made at test time, for the fake PayPal's webhook signing: a test CA and the
 * leaf certificates it issues, as PayPal serves its own (a PEM chain at `paypal-cert-url`).
 *
 * Node 20 reads certificates (X509Certificate) but cannot make them, so this writes the few DER
 * structures of RFC 5280 it needs (a v3 TBSCertificate, a name of CN and O, a validity, basic
 * constraints) and signs them with node:crypto (sha256WithRSAEncryption). Node then parses and
 * checks every one made here (see `issue`), so a mistake in the encoding fails at once.
 */

const lengthOf = (n: number): Buffer => {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let rest = n; rest > 0; rest >>= 8) bytes.unshift(rest & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
};
const tlv = (tag: number, content: Buffer): Buffer => Buffer.concat([Buffer.from([tag]), lengthOf(content.length), content]);
const sequence = (...parts: Buffer[]) => tlv(0x30, Buffer.concat(parts));
const set = (...parts: Buffer[]) => tlv(0x31, Buffer.concat(parts));
const explicit = (n: number, content: Buffer) => tlv(0xa0 + n, content);
const utf8 = (text: string) => tlv(0x0c, Buffer.from(text, 'utf8'));
const bitString = (bytes: Buffer) => tlv(0x03, Buffer.concat([Buffer.from([0]), bytes]));
const octetString = (bytes: Buffer) => tlv(0x04, bytes);
const TRUE = tlv(0x01, Buffer.from([0xff]));
const NULL = Buffer.from([0x05, 0x00]);

/** A positive INTEGER: a leading zero byte when the top bit is set. */
function integer(bytes: Buffer): Buffer {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start += 1;
  const trimmed = bytes.subarray(start);
  return tlv(0x02, trimmed[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
}

function oid(dotted: string): Buffer {
  const [first, second, ...rest] = dotted.split('.').map(Number) as [number, number, ...number[]];
  const bytes = [40 * first + second];
  for (const arc of rest) {
    const chunk = [arc & 0x7f];
    for (let value = arc >> 7; value > 0; value >>= 7) chunk.unshift(0x80 | (value & 0x7f));
    bytes.push(...chunk);
  }
  return tlv(0x06, Buffer.from(bytes));
}

/** UTCTime through 2049, GeneralizedTime after (RFC 5280 4.1.2.5). */
function time(date: Date): Buffer {
  const iso = date.toISOString().replace(/[-:T]/g, '').slice(0, 14); // YYYYMMDDHHMMSS
  return date.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(`${iso.slice(2)}Z`)) : tlv(0x18, Buffer.from(`${iso}Z`));
}

const SHA256_WITH_RSA = sequence(oid('1.2.840.113549.1.1.11'), NULL);

function name(commonName: string, organization: string): Buffer {
  return sequence(set(sequence(oid('2.5.4.3'), utf8(commonName))), set(sequence(oid('2.5.4.10'), utf8(organization))));
}

export interface TestCertificate {
  /** The certificate, PEM. */
  pem: string;
  cert: X509Certificate;
  /** Its private key: the issuer's signing key for a CA, the webhook signing key for a leaf. */
  key: KeyObject;
}

export interface CertificateOptions {
  commonName: string;
  organization?: string;
  notBefore?: Date;
  notAfter?: Date;
  /** Issued by this CA; none: self-signed. */
  issuer?: TestCertificate;
  isCa?: boolean;
}

const HOUR = 3600_000;

/** A certificate with a new 2048-bit RSA key, valid from an hour ago for a day unless said otherwise. */
export function issue(options: CertificateOptions): TestCertificate {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const now = Date.now();
  const subject = name(options.commonName, options.organization ?? 'Billed test certificates');
  const issuerName = options.issuer ? name(commonNameOf(options.issuer.cert), organizationOf(options.issuer.cert)) : subject;
  const extensions = options.isCa
    ? [explicit(3, sequence(sequence(oid('2.5.29.19'), TRUE, octetString(sequence(TRUE)))))] // basicConstraints: critical, cA
    : [];
  const tbs = sequence(
    explicit(0, integer(Buffer.from([2]))), // v3
    integer(randomBytes(16)),
    SHA256_WITH_RSA,
    issuerName,
    sequence(time(options.notBefore ?? new Date(now - HOUR)), time(options.notAfter ?? new Date(now + 24 * HOUR))),
    subject,
    publicKey.export({ type: 'spki', format: 'der' }),
    ...extensions,
  );
  const signature = sign('sha256', tbs, options.issuer?.key ?? privateKey);
  const der = sequence(tbs, SHA256_WITH_RSA, bitString(signature));
  const pem = `-----BEGIN CERTIFICATE-----\n${der.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`;
  const cert = new X509Certificate(pem);
  // Node checks what was written: the issuer's signature over it, and the subject as given.
  const signer = options.issuer?.cert ?? cert;
  if (!cert.verify(signer.publicKey) || commonNameOf(cert) !== options.commonName) throw new Error('test certificate was not encoded right');
  return { pem, cert, key: privateKey };
}

export function commonNameOf(cert: X509Certificate): string {
  return cert.subject.split('\n').find((line) => line.startsWith('CN='))?.slice(3) ?? '';
}

function organizationOf(cert: X509Certificate): string {
  return cert.subject.split('\n').find((line) => line.startsWith('O='))?.slice(2) ?? '';
}

/** A test CA, as PayPal's signing certificates come from a CA (DigiCert's, for PayPal's own). */
export const issueTestCa = (commonName = 'Billed Test Root CA') => issue({ commonName, isCa: true, notAfter: new Date(Date.now() + 365 * 24 * HOUR) });
