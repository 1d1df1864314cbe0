/**
 * Network-level failures to reach a server (MySQL, Redis), told apart from
 * everything else (an SQL error, a Redis error reply) and put in words for a
 * message that names the setting to fix.
 */
import { ownValue } from './own-key.js';

const REASONS: Record<string, (host: string) => string> = {
  ECONNREFUSED: () => 'connection refused',
  ENOTFOUND: (host) => `unknown host ${host}`,
  EAI_AGAIN: (host) => `the host name ${host} could not be resolved: DNS did not answer`,
  ETIMEDOUT: () => 'no answer: timed out',
  EHOSTUNREACH: () => 'host unreachable',
  ENETUNREACH: () => 'network unreachable',
  ECONNRESET: () => 'connection reset',
  EPIPE: () => 'connection reset',
};

/** ioredis and BullMQ report a connection dropped under a command by message only. */
const CLOSED_MESSAGES = [/^Connection is closed\.?$/, /^Stream isn't writeable/];

const codeOf = (error: unknown): string | undefined => {
  if (!error || typeof error !== 'object') return undefined;
  const { code, errors } = error as { code?: unknown; errors?: unknown };
  if (typeof code === 'string') return code;
  // Node's happy-eyeballs connect (localhost → ::1 and 127.0.0.1) fails with an AggregateError of both.
  if (Array.isArray(errors)) return codeOf(errors[0]);
  return undefined;
};

/** Why a connection to `host` failed, in words; undefined when `error` is not a network-level failure. */
export function connectionFailureReason(error: unknown, host: string): string | undefined {
  const code = codeOf(error);
  const reason = code ? ownValue(REASONS, code) : undefined;
  if (reason) return reason(host);
  const message = error instanceof Error ? error.message : '';
  if (CLOSED_MESSAGES.some((pattern) => pattern.test(message))) return 'connection closed';
  return undefined;
}
