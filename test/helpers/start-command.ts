import { readFileSync } from 'node:fs';

/**
 * The node arguments `npm start` runs (e.g. `--max-old-space-size=192 --import tsx src/main.ts`):
 * package.json's script is the one place they are written, so spawned services run what users run.
 */
export function startArgs(): string[] {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { scripts: { start: string } };
  const [command, ...args] = pkg.scripts.start.trim().split(/\s+/);
  if (command !== 'node') throw new Error(`npm start should run node directly, not ${command}`);
  return args;
}
