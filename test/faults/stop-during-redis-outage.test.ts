import assert from 'node:assert/strict';
import { PrivateRedis } from '../helpers/private-redis.js';
import { startFaultTestService } from '../helpers/fault-test-service.js';

describe('stopping while Redis is down or just back', function () {
  this.timeout(40_000);

  for (const when of ['down', 'just restarted'] as const) {
    it(`finishes within the 15 s backstop when Redis is ${when}`, async () => {
      const redis = await PrivateRedis.onFreePort();
      await redis.start();
      const t = await startFaultTestService({ REDIS_URL: redis.url });
      try {
        await redis.kill();
        if (when === 'just restarted') await redis.start();
        const started = Date.now();
        await t.service.stop();
        // A graceful BullMQ close can wait forever on a blocking connection between reconnects; ours is bounded.
        assert.ok(Date.now() - started < 14_000, `stop took ${Date.now() - started} ms`);
      } finally {
        if (!redis.running) await redis.start();
        await t.stop();
        await redis.kill();
      }
    });
  }
});
