/**
 * Secrets that must never reach a log line: Stripe secret and restricted keys,
 * webhook signing secrets, and bearer tokens. Applied to the final serialized
 * line, so it holds whatever a caller passes as message or metadata.
 */
const SECRET_PATTERNS: RegExp[] = [
  /\b(sk|rk)_(live|test)_[0-9A-Za-z]+/g,
  /\bwhsec_[0-9A-Za-z+/=]+/g,
  /\b(Bearer)\s+[A-Za-z0-9._~+/=-]+/gi,
];

export function redactSecrets(text: string): string {
  let out = text;
  for (const pattern of SECRET_PATTERNS) {
    out = out.replace(pattern, (match, first: string) =>
      first.toLowerCase() === 'bearer' ? `${first} [redacted]` : `${match.slice(0, match.indexOf('_') + 1)}[redacted]`,
    );
  }
  return out;
}
