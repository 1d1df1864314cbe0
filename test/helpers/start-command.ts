import { readFileSync } from 'node:fs';

/** The `start` script of package.json as written: `exec node <flags> dist/src/main.js`. */
export function npmStartScript(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { scripts: { start: string } };
  return pkg.scripts.start.trim();
}

/**
 * The command npm start runs: `node <flags> dist/src/main.js` (its prestart builds dist/ when
 * stale). The script's leading `exec` is the shell's, not the command's: it makes node replace
 * the shell npm starts, so a signal sent to npm's child reaches node.
 */
export function npmStartCommand(): string[] {
  return npmStartScript().replace(/^exec\s+/, '').split(/\s+/);
}

/**
 * The node arguments a spawned service runs with (cwd: the repository root). package.json's
 * `start` is the one place the flags are written (`--max-old-space-size=192`, ...), so spawned
 * services run with what users run, minus the .env file: a developer's settings (a live Stripe
 * key) must not reach tests. `source` (the default) runs `src/main.ts` through tsx, as
 * `npm run dev` does: the code under test, without a build. `compiled` runs `npm start`'s entry,
 * `dist/src/main.js`, which must have been built (`npm run build`, or `--if-stale`).
 */
export function startArgs(form: 'source' | 'compiled' = 'source'): string[] {
  const [command, ...args] = npmStartCommand();
  if (command !== 'node') throw new Error(`npm start should run node directly, not ${command}`);
  const entry = args.pop();
  if (entry !== 'dist/src/main.js') throw new Error(`npm start should end with its entry, dist/src/main.js, not ${entry}`);
  const flags = args.filter((arg) => !arg.startsWith('--env-file'));
  return form === 'compiled' ? [...flags, entry] : [...flags, '--import', 'tsx', 'src/main.ts'];
}
