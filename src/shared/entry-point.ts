import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

/**
 * Whether the module at `moduleUrl` is the script node was started with (`node dist/src/main.js`,
 * `tsx src/main.ts`), so importing it (tests, the bench) starts nothing. Node gives the entry module
 * its real path but leaves `process.argv[1]` as typed, so a path through a symlink (macOS's /tmp, a
 * linked deploy directory) is resolved before comparing: otherwise the service would exit 0 silently.
 */
export function isEntryPoint(moduleUrl: string): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return moduleUrl === pathToFileURL(realpathSync(script)).href;
  } catch {
    return moduleUrl === pathToFileURL(script).href;
  }
}
