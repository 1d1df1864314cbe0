import { existsSync } from 'node:fs';
import { basename, dirname, isAbsolute, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One `at ...` line of a V8 stack, located in this repository. */
export interface ProjectFrame {
  /** Relative to the repository root, with `/` separators: `src/billing/charge.handlers.ts`. */
  file: string;
  line: number;
}

export interface FrameOptions {
  /** The repository root (absolute). */
  root?: string;
  /** Whether a file is on disk; tests give their own. */
  exists?: (path: string) => boolean;
}

/**
 * The repository root: two levels above this module (src/shared/). A build puts this module in
 * dist/src/shared/, two levels below dist/: the root is dist's parent then, and a frame of the
 * compiled code (dist/src/x.js) is named by its source's path (src/x.js).
 */
const moduleRoot = fileURLToPath(new URL('../../', import.meta.url));
export const REPOSITORY_ROOT = basename(moduleRoot) === 'dist' ? dirname(moduleRoot) : moduleRoot;

/** `at fn (location:line:col)` or `at location:line:col`; `location` is a path, a file URL, `node:...` or `<anonymous>`. */
const FRAME = /^\s*at (?:.*? \()?(.+?):(\d+):\d+\)?$/;

const onDisk = new Map<string, boolean>();
function cachedExists(path: string): boolean {
  let known = onDisk.get(path);
  if (known === undefined) onDisk.set(path, (known = existsSync(path)));
  return known;
}

/**
 * The frames of `stack` that are this repository's own code, in stack order (where it was thrown
 * first): files under the root, not under node_modules, and on disk. The last test matters: a
 * library's source map can name sources that were never shipped, and tsx resolves them against
 * the root (TypeORM's `MysqlQueryRunner.ts` appears as `<root>/src/driver/mysql/MysqlQueryRunner.ts`).
 */
export function projectFrames(stack: string, options: FrameOptions = {}): ProjectFrame[] {
  const root = options.root ?? REPOSITORY_ROOT;
  const exists = options.exists ?? cachedExists;
  const frames: ProjectFrame[] = [];
  for (const text of stack.split('\n')) {
    const match = FRAME.exec(text);
    if (!match) continue;
    let path = match[1]!;
    if (path.startsWith('file://')) {
      try {
        path = fileURLToPath(path);
      } catch {
        continue;
      }
    }
    if (!isAbsolute(path)) continue; // node:internal/..., <anonymous>, eval frames
    let file = relative(root, path).split(sep).join('/');
    if (file.startsWith('../') || isAbsolute(file) || file.split('/').includes('node_modules')) continue;
    if (!exists(path)) continue;
    if (file.startsWith('dist/')) file = file.slice('dist/'.length);
    frames.push({ file, line: Number(match[2]) });
  }
  return frames;
}
