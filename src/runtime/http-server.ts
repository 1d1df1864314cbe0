import { createServer, type RequestListener, type Server } from 'node:http';
import type { Config } from '../../config/env.schema.js';
import type { Logger } from '../shared/logger.js';
import { rateLimitedLog } from '../shared/rate-limited-log.js';

type ServerLimits = Pick<
  Config,
  'HTTP_HEADERS_TIMEOUT_MS' | 'HTTP_REQUEST_TIMEOUT_MS' | 'HTTP_KEEP_ALIVE_TIMEOUT_MS' | 'HTTP_MAX_CONNECTIONS' | 'FAILURE_LOG_INTERVAL_MS'
>;

/**
 * The API's HTTP server, bounded against slow and numerous clients: Node's defaults let a client
 * take 60 s over its headers and 300 s over its body, and accept connections without end, so 100
 * clients trickling a byte a second held 100 connections for good. Now headers (from the
 * connection's start) and whole requests have a deadline (408, then the connection is cut; a
 * response being sent is not limited), idle keep-alive connections close, and connections beyond
 * the cap are closed unanswered.
 */
export function createHttpServer(limits: ServerLimits, logger: Logger, listener: RequestListener): Server {
  const server = createServer(
    {
      headersTimeout: limits.HTTP_HEADERS_TIMEOUT_MS,
      requestTimeout: limits.HTTP_REQUEST_TIMEOUT_MS,
      // Node checks both deadlines on a timer, every 30 s by default: a tenth of the shorter one
      // (at most a second) keeps the cut close to the deadline, for a walk over the open connections.
      connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(limits.HTTP_HEADERS_TIMEOUT_MS / 10))),
    },
    listener,
  );
  server.keepAliveTimeout = limits.HTTP_KEEP_ALIVE_TIMEOUT_MS;
  server.maxConnections = limits.HTTP_MAX_CONNECTIONS;
  const dropped = rateLimitedLog(logger, { level: 'warn', message: 'connection refused: HTTP_MAX_CONNECTIONS are open', keyField: 'limit', intervalMs: limits.FAILURE_LOG_INTERVAL_MS });
  server.on('drop', () => dropped(String(limits.HTTP_MAX_CONNECTIONS)));
  server.on('close', () => dropped.flush());
  return server;
}
