import { dropTestDatabases } from './helpers/test-database.js';

/** Root hooks: the run's databases go away with the run, pass or fail. */
export const mochaHooks = {
  async afterAll(this: Mocha.Context) {
    this.timeout(30_000);
    await dropTestDatabases();
  },
};
