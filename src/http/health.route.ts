import { createHash, timingSafeEqual } from 'node:crypto';
import { Router, type RequestHandler } from 'express';
import { AppError } from '../shared/errors.js';
import type { DataSource } from 'typeorm';
import { pingRedis, type RedisClient } from '../redis/connections.js';
import type { Registry } from 'prom-client';
import { withTimeout } from '../shared/with-timeout.js';

/**
 * The producer connection has no offline queue, so a ping sent while it is still connecting (just after
 * start, or while Redis restarts) fails at once: wait for it to connect (1 s at most, inside the probe's
 * 1.5 s), all probes on one wait.
 */
function pingerWhenConnected(redis: RedisClient): () => Promise<unknown> {
  let connecting: Promise<void> | undefined;
  const connected = () =>
    (connecting ??= new Promise<void>((resolve) => {
      const timer = setTimeout(done, 1000);
      function done() {
        clearTimeout(timer);
        redis.off('ready', done);
        connecting = undefined;
        resolve();
      }
      redis.once('ready', done);
    }));
  return async () => {
    if (redis.status !== 'ready') await connected();
    return pingRedis(redis);
  };
}

const sha256 = (value: string) => createHash('sha256').update(value).digest();

/** With METRICS_TOKEN set, /metrics wants it as a bearer token, compared in constant time (equal-length hashes). */
function requireMetricsToken(token: string | undefined): RequestHandler {
  const expected = token ? sha256(token) : undefined;
  return (req, _res, next) => {
    if (!expected) return next();
    const match = /^Bearer\s+(\S+)$/i.exec(req.get('authorization') ?? '');
    if (!match?.[1] || !timingSafeEqual(sha256(match[1]), expected)) {
      throw new AppError(401, 'unauthorized', 'GET /metrics needs Authorization: Bearer <METRICS_TOKEN>: give the scraper the token (Prometheus: authorization: {credentials: ...}).');
    }
    next();
  };
}

/**
 * /healthz: the process answers. /readyz: MySQL and Redis answer too (on a Redis Cluster: its
 * state is ok and every master answers). /metrics: Prometheus text (behind METRICS_TOKEN when set).
 */
export function healthRouter(deps: { dataSource: DataSource; redis: RedisClient; registry: Registry; metricsToken?: string }): Router {
  const router = Router();
  const probeRedis = pingerWhenConnected(deps.redis);

  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  router.get('/readyz', async (_req, res) => {
    const check = (probe: () => Promise<unknown>) =>
      withTimeout(probe(), 1500, () => new Error('timed out')).then(
        () => 'ok' as const,
        () => 'unreachable' as const,
      );
    const [mysql, redis] = await Promise.all([
      check(() => deps.dataSource.query('SELECT 1')),
      check(probeRedis),
    ]);
    const ready = mysql === 'ok' && redis === 'ok';
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not_ready', mysql, redis });
  });

  router.get('/metrics', requireMetricsToken(deps.metricsToken), async (_req, res) => {
    res.type(deps.registry.contentType).send(await deps.registry.metrics());
  });

  return router;
}
