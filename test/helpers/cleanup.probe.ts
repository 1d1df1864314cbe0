import { startTestService } from './test-service.js';
import { uniqueDatabaseUrl } from './test-database.js';
// A module with top-level await, as the ops CLI's entry is: with one among a run's imports, mocha
// loads the test files apart from its root hooks, and this helper module twice (seen on this machine).
import '../../src/ops/cli/main.js';

// Run by test/cleanup.test.ts as a mocha run of its own: starts a service on a database of its own
// and prints the database's name; the run's root hook (test/setup.ts) must drop it.
describe('a run that creates a database of its own', () => {
  it('starts and stops a service on it', async () => {
    const databaseUrl = uniqueDatabaseUrl('cleanup_probe');
    const t = await startTestService({ DATABASE_URL: databaseUrl, ROLE: 'api' });
    console.log(`probe-database=${new URL(databaseUrl).pathname.slice(1)}`);
    await t.stop();
  });
});
