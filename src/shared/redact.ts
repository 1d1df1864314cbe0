/**
 * Secrets that must never reach a log line: Stripe secret and restricted keys,
 * webhook signing secrets, bearer tokens (also Billed's own `bld_` access tokens and `bpl_` pay-link tokens, which
 * travel in a URL path), and passwords in
 * connection URLs (DATABASE_URL, REDIS_URL). Applied to the final serialized
 * line, so it holds whatever a caller passes as message or metadata.
 */
const REPLACEMENTS: [RegExp, string][] = [
  [/\b(sk|rk)_(live|test)_[0-9A-Za-z]+/g, '$1_$2_[redacted]'],
  [/\bwhsec_[0-9A-Za-z+/=_]+/g, 'whsec_[redacted]'],
  [/\bBearer\s+[A-Za-z0-9._~+/=-]+/gi, 'Bearer [redacted]'],
  [/\bbld_[A-Za-z0-9_-]{20,}/g, 'bld_[redacted]'],
  [/\bbpl_[A-Za-z0-9_-]{20,}/g, 'bpl_[redacted]'],
  // The password in a connection URL (mysql://user:password@host, redis://:password@host); not a <password> placeholder.
  [/\b([a-z][a-z0-9+.-]*:\/\/[^\s/:@"']*:)[^\s/@"'<][^\s/@"']*@/gi, '$1****@'],
];

/** `url` with its password, if any, shown as ****: for echoing DATABASE_URL or REDIS_URL back in a message. */
export function maskUrlPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (!parsed.password) return url;
    parsed.password = '****';
    return parsed.toString();
  } catch {
    return redactSecrets(url);
  }
}

export function redactSecrets(text: string): string {
  return REPLACEMENTS.reduce((out, [pattern, replacement]) => out.replace(pattern, replacement), text);
}
