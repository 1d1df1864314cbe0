/**
 * Child-process entry for `npm run bench`: the real service (start() creates
 * and migrates its database) with ROLE=api, so no worker competes for the
 * CPU while ingestion is measured; jobs stay waiting in the queue.
 * Prints `listening <port>` once the API accepts requests.
 */
import { loadConfig } from '../config/env.schema.js';
import { start } from '../src/main.js';

const service = await start(loadConfig({ ...process.env, ROLE: 'api' }));
console.log(`listening ${service.port}`);

const stop = () => {
  setTimeout(() => process.exit(1), 10_000).unref();
  // A normal exit (not death by signal) so that --cpu-prof writes its profile.
  void service.stop().then(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
