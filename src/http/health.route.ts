import { Router } from 'express';
import type { DataSource } from 'typeorm';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { withTimeout } from '../shared/with-timeout.js';

/**
 * The producer connection has no offline queue, so a ping sent while it is still connecting (just after
 * start, or while Redis restarts) fails at once: wait for it to connect (1 s at most, inside the probe's
 * 1.5 s), all probes on one wait.
 */
function pingerWhenConnected(redis: Redis): () => Promise<unknown> {
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
    return redis.ping();
  };
}

/** /healthz: the process answers. /readyz: MySQL and Redis answer too. /metrics: Prometheus text. */
export function healthRouter(deps: { dataSource: DataSource; redis: Redis; registry: Registry }): Router {
  const router = Router();
  const pingRedis = pingerWhenConnected(deps.redis);

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
      check(pingRedis),
    ]);
    const ready = mysql === 'ok' && redis === 'ok';
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not_ready', mysql, redis });
  });

  router.get('/metrics', async (_req, res) => {
    res.type(deps.registry.contentType).send(await deps.registry.metrics());
  });

  return router;
}
