/**
 * Secrets that must never reach a log line: Stripe secret and restricted keys,
 * webhook signing secrets, and bearer tokens (also Billed's own `bld_` access tokens). Applied to the final serialized
 * line, so it holds whatever a caller passes as message or metadata.
 */
const REPLACEMENTS: [RegExp, string][] = [
  [/\b(sk|rk)_(live|test)_[0-9A-Za-z]+/g, '$1_$2_[redacted]'],
  [/\bwhsec_[0-9A-Za-z+/=_]+/g, 'whsec_[redacted]'],
  [/\bBearer\s+[A-Za-z0-9._~+/=-]+/gi, 'Bearer [redacted]'],
  [/\bbld_[A-Za-z0-9_-]{20,}/g, 'bld_[redacted]'],
];

export function redactSecrets(text: string): string {
  return REPLACEMENTS.reduce((out, [pattern, replacement]) => out.replace(pattern, replacement), text);
}
