import assert from 'node:assert/strict';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { projectFrames, REPOSITORY_ROOT } from '../src/shared/stack-frames.js';
import { thrownAt } from '../src/events/event-attempts.js';

const ROOT = '/srv/billed';
const onDisk = new Set([
  `${ROOT}/src/billing/refund.handlers.ts`,
  `${ROOT}/src/db/folded-transaction.ts`,
  `${ROOT}/src/events/process-event.ts`,
  `${ROOT}/dist/src/billing/refund.handlers.js`,
  `${ROOT}/dist/src/db/folded-transaction.js`,
  `${ROOT}/node_modules/typeorm/driver/mysql/MysqlQueryRunner.js`,
]);
const options = { root: ROOT, exists: (path: string) => onDisk.has(path) };
const errorWith = (...frames: string[]) => Object.assign(new Error('boom'), { stack: ['QueryFailedError: boom', ...frames.map((f) => `    at ${f}`)].join('\n') });

describe('where an event handler error was thrown (the stack line on-call reads)', () => {
  it('under tsx: the handler\'s line, relative, past the driver (a made-up source-mapped path) and the transaction wrapper', () => {
    const error = errorWith(
      `MysqlQueryRunner.query (${ROOT}/src/driver/mysql/MysqlQueryRunner.ts:291:19)`,
      'process.processTicksAndRejections (node:internal/process/task_queues:95:5)',
      `async FoldedTx.sendRaw (${ROOT}/src/db/folded-transaction.ts:137:22)`,
      `async refundCreated (${ROOT}/src/billing/refund.handlers.ts:42:7)`,
      `async runInTransaction (${ROOT}/src/events/process-event.ts:90:21)`,
    );
    assert.equal(thrownAt(error, options), 'src/billing/refund.handlers.ts:42');
  });

  it('under tsx with file URLs: the same', () => {
    const error = errorWith(`async refundCreated (${pathToFileURL(`${ROOT}/src/billing/refund.handlers.ts`).href}:42:7)`);
    assert.equal(thrownAt(error, options), 'src/billing/refund.handlers.ts:42');
  });

  it('compiled, from dist/: the file under dist/ without the dist/ prefix, past node_modules', () => {
    const error = errorWith(
      `MysqlQueryRunner.query (${ROOT}/node_modules/typeorm/driver/mysql/MysqlQueryRunner.js:180:19)`,
      `async FoldedTx.query (file://${ROOT}/dist/src/db/folded-transaction.js:80:21)`,
      `async refundCreated (file://${ROOT}/dist/src/billing/refund.handlers.js:30:7)`,
    );
    assert.equal(thrownAt(error, options), 'src/billing/refund.handlers.js:30');
  });

  it('an error of the pipeline itself: its line in src/events', () => {
    const error = errorWith('JSON.parse (<anonymous>)', `runInTransaction (${ROOT}/src/events/process-event.ts:88:3)`);
    assert.equal(thrownAt(error, options), 'src/events/process-event.ts:88');
  });

  it('only the transaction wrapper of ours (a failed COMMIT): the wrapper\'s line', () => {
    const error = errorWith(`MysqlQueryRunner.query (${ROOT}/src/driver/mysql/MysqlQueryRunner.ts:291:19)`, `async foldedTransaction (${ROOT}/src/db/folded-transaction.ts:55:21)`);
    assert.equal(thrownAt(error, options), 'src/db/folded-transaction.ts:55');
  });

  it('no frame of ours: the first frame, as V8 wrote it', () => {
    const error = errorWith(`Socket.onData (${ROOT}/node_modules/mysql2/lib/connection.js:12:3)`, 'node:internal/streams:4:5');
    assert.equal(thrownAt(error, options), `at Socket.onData (${ROOT}/node_modules/mysql2/lib/connection.js:12:3)`);
    assert.equal(thrownAt('a string, not an Error', options), null);
  });

  it('a real stack of this repository, with the real root and disk', () => {
    const error = new Error('here');
    assert.match(thrownAt(error)!, /^test\/stack-frames\.test\.ts:\d+$/);
    assert.ok(projectFrames(error.stack!).every((frame) => !frame.file.includes('node_modules')));
    assert.equal(REPOSITORY_ROOT, fileURLToPath(new URL('../', import.meta.url)));
  });
});
