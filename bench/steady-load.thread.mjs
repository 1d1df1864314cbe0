// Entry of the steady-load thread (bench/steady-load.ts): a worker thread does not inherit the
// tsx loader, so it registers it before loading the TypeScript module, which then runs the load.
import { register } from 'tsx/esm/api';

register();
await import('./steady-load.ts');
