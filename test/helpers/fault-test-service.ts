import type { Redis } from 'ioredis';
import { startTestService, type TestService } from './test-service.js';

/**
 * startTestService for fault tests, which break Redis or MySQL on purpose.
 * The helper's own `queue` (for counting jobs) is built on a connection that
 * `TestService.stop()` never disconnects (BullMQ leaves a connection it was
 * given open): against a Redis the test kills, it would keep reconnecting and
 * logging for the rest of the run, and it keeps the process alive. This
 * quiets that queue during an outage and disconnects its connection on stop.
 */
export async function startFaultTestService(env: Record<string, string> = {}): Promise<TestService> {
  const t = await startTestService(env);
  t.queue.on('error', () => {}); // the outage is the point of the test
  const queueConnection = t.queue.opts.connection as Redis;
  const stop = t.stop.bind(t);
  return {
    ...t,
    async stop() {
      try {
        await stop();
      } finally {
        queueConnection.disconnect();
      }
    },
  };
}
