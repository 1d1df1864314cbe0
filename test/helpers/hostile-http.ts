import assert from 'node:assert/strict';
import http from 'node:http';
import { createHmac } from 'node:crypto';
import type { TestService } from './test-service.js';
import { TEST_WEBHOOK_SECRET } from './stripe-events.js';

/**
 * A byte-exact HTTP client for hostile requests. supertest (superagent) and
 * fetch both "help": they add a Content-Type, normalise `../` out of paths,
 * re-encode bodies. Here the method, the path, every header and every body
 * byte go out exactly as given, and a request that gets no answer in time
 * fails as a hang instead of waiting for mocha's timeout.
 */
export interface RawRequest {
  method?: string;
  /** Sent verbatim: `../`, `%00` and broken percent-encoding included. */
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Send the body with Transfer-Encoding: chunked (no Content-Length), in 64 KB chunks. */
  chunked?: boolean;
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  /** The parsed JSON body, or undefined when it is not JSON. */
  body: unknown;
  /** Time to the full answer. */
  ms: number;
}

export function sendRaw(baseUrl: string, request: RawRequest, timeoutMs = 10_000): Promise<RawResponse> {
  const url = new URL(baseUrl);
  const body = request.body === undefined ? undefined : Buffer.isBuffer(request.body) ? request.body : Buffer.from(request.body, 'utf8');
  const headers: Record<string, string> = { ...request.headers };
  if (body && !request.chunked && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-length')) {
    headers['content-length'] = String(body.length);
  }
  const started = Date.now();
  return new Promise<RawResponse>((resolve, reject) => {
    let answered = false;
    const req = http.request(
      { host: url.hostname, port: url.port, method: request.method ?? 'GET', path: request.path, headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          answered = true;
          clearTimeout(timer);
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown;
          try {
            parsed = JSON.parse(text);
          } catch {
            parsed = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, body: parsed, ms: Date.now() - started });
        });
        res.on('error', reject);
      },
    );
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`no answer to ${request.method ?? 'GET'} ${request.path.slice(0, 80)} within ${timeoutMs} ms: the service hangs`));
    }, timeoutMs);
    // A server may answer (413) and close before the whole body is written: that answer counts, not the broken pipe.
    req.on('error', (error) => {
      if (!answered) {
        clearTimeout(timer);
        reject(error);
      }
    });
    if (body && request.chunked) {
      for (let at = 0; at < body.length; at += 65_536) req.write(body.subarray(at, at + 65_536));
      req.end();
    } else {
      req.end(body);
    }
  });
}

/** The v1 HMAC Stripe computes: SHA-256 over the bytes `<t>.<raw body>`, exactly (no text decoding on the way). */
export function v1Signature(payload: string | Buffer, timestamp: number, secret = TEST_WEBHOOK_SECRET): string {
  const bytes = Buffer.isBuffer(payload) ? payload : Buffer.from(payload, 'utf8');
  return createHmac('sha256', secret).update(Buffer.concat([Buffer.from(`${timestamp}.`), bytes])).digest('hex');
}

export const nowSeconds = () => Math.floor(Date.now() / 1000);

/** A Stripe-Signature header over the exact bytes. */
export function stripeSignatureHeader(payload: string | Buffer, secret = TEST_WEBHOOK_SECRET, timestamp = nowSeconds()): string {
  return `t=${timestamp},v1=${v1Signature(payload, timestamp, secret)}`;
}

/** A webhook delivery signed over its exact bytes, as Stripe sends it (JSON content type unless overridden). */
export function signedWebhook(payload: string | Buffer, headers: Record<string, string> = {}, path = '/webhooks/stripe'): RawRequest {
  return {
    method: 'POST',
    path,
    headers: { 'content-type': 'application/json; charset=utf-8', 'stripe-signature': stripeSignatureHeader(payload), ...headers },
    body: payload,
  };
}

/** The tables a request could write to; a rejected request must change none of their row counts. */
export const STORAGE_TABLES = ['stripe_events', 'invoices', 'accounts', 'stripe_connections', 'access_tokens', 'audit_log'] as const;
export type StorageTable = (typeof STORAGE_TABLES)[number];
export type RowCounts = Record<StorageTable, number>;

export async function rowCounts(t: TestService): Promise<RowCounts> {
  const [row] = await t.query<Record<StorageTable, number | string>>(
    `SELECT ${STORAGE_TABLES.map((table) => `(SELECT COUNT(*) FROM \`${table}\`) AS \`${table}\``).join(', ')}`,
  );
  return Object.fromEntries(STORAGE_TABLES.map((table) => [table, Number(row![table])])) as RowCounts;
}

/** Every table the migrations create is still there (a `'; DROP TABLE …` that got through would show here). */
export async function assertTablesIntact(t: TestService, expected: readonly string[]): Promise<void> {
  const rows = await t.query<Record<string, string>>('SHOW TABLES');
  const present = new Set(rows.map((row) => String(Object.values(row)[0])));
  for (const table of expected) assert.ok(present.has(table), `table ${table} is gone`);
}

const SNAKE_CASE = /^[a-z][a-z0-9]*(_[a-z0-9]+)*$/;
/** What must never reach a client: a stack trace, a source path, an HTML error page. */
const LEAKS = /<!doctype|<html|<pre>|(\\n|\n)\s+at\s|node_modules|\.ts:\d+|\.js:\d+/i;

/**
 * A clear client error: this status, this stable snake_case code, a message a
 * person can act on, JSON (never an HTML page), and no stack trace.
 */
export function assertClientError(res: RawResponse, status: number | readonly number[], code: string | RegExp, message?: RegExp): void {
  const statuses = typeof status === 'number' ? [status] : status;
  const got = `${res.status} ${res.text.slice(0, 400)}`;
  assert.ok(statuses.includes(res.status), `expected ${statuses.join(' or ')}, got ${got}`);
  assert.match(String(res.headers['content-type'] ?? ''), /^application\/json/, `JSON, not ${String(res.headers['content-type'])}: ${got}`);
  const error = (res.body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  assert.ok(error && typeof error === 'object', `an {"error": {...}} body: ${got}`);
  assert.equal(typeof error.code, 'string', got);
  assert.match(error.code as string, SNAKE_CASE, `a snake_case code: ${got}`);
  if (typeof code === 'string') assert.equal(error.code, code, got);
  else assert.match(error.code as string, code, got);
  assert.equal(typeof error.message, 'string', got);
  assert.ok((error.message as string).length >= 15, `a message that says how to fix it: ${got}`);
  if (message) assert.match(error.message as string, message, got);
  assert.doesNotMatch(res.text, LEAKS, `no stack trace, source path or HTML page: ${got}`);
}
