import assert from 'node:assert/strict';
import { createMemoryLogger } from './helpers/memory-logger.js';
import { rateLimitedLog } from '../src/shared/rate-limited-log.js';
import { runWithContext } from '../src/shared/context.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('rateLimitedLog (one line per key per interval, with the count of the rest)', () => {
  const setup = (intervalMs: number) => {
    const { logger, lines } = createMemoryLogger();
    const log = rateLimitedLog(logger, { level: 'warn', message: 'webhook signature rejected', keyField: 'account', intervalMs });
    const written = () => lines.map((line) => JSON.parse(line) as { level: string; account: string; suppressed: number; requestId?: string; n?: number });
    return { log, written };
  };

  it('writes the first line of a key at once and counts the rest until the interval ends, each key on its own', async () => {
    const { log, written } = setup(100);
    for (let n = 1; n <= 50; n++) runWithContext({ requestId: `req-a-${n}` }, () => log('acct_a', { n }));
    runWithContext({ requestId: 'req-b-1' }, () => log('acct_b', { n: 1 }));
    assert.deepEqual(
      written().map((l) => [l.level, l.account, l.suppressed, l.requestId, l.n]),
      [
        ['warn', 'acct_a', 0, 'req-a-1', 1],
        ['warn', 'acct_b', 0, 'req-b-1', 1],
      ],
    );
    await sleep(150);
    // The count of acct_a's other 49, named by the latest of them; acct_b had no more.
    assert.deepEqual(written().slice(2).map((l) => [l.account, l.suppressed, l.requestId, l.n]), [['acct_a', 49, 'req-a-50', 50]]);
  });

  it('keeps writing at most one line an interval while a flood lasts, and forgets a key that went quiet', async () => {
    const { log, written } = setup(60);
    const until = Date.now() + 200;
    let sent = 0;
    while (Date.now() < until) {
      log('acct_a');
      sent++;
      await sleep(1);
    }
    await sleep(150);
    const lines = written();
    assert.ok(lines.length >= 2 && lines.length <= 6, `${lines.length} lines for ${sent} in 200 ms at one per 60 ms`);
    assert.equal(lines.reduce((sum, l) => sum + (l.suppressed === 0 ? 1 : l.suppressed), 0), sent, 'every one logged or counted');
    log('acct_a');
    assert.equal(written().at(-1)!.suppressed, 0, 'after a quiet interval, the next line is written at once');
  });

  it('flush writes the counts still pending (on shutdown)', () => {
    const { log, written } = setup(60_000);
    log('acct_a');
    log('acct_a');
    log('acct_a');
    log.flush();
    assert.deepEqual(written().map((l) => l.suppressed), [0, 2]);
    log.flush();
    assert.equal(written().length, 2, 'nothing pending twice');
  });
});
