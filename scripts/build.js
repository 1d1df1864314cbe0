#!/usr/bin/env node
// `npm run build`: compiles config/, src/ and workers/ with tsc (tsconfig.build.json) into dist/,
// copies the files tsc does not compile (the dashboard's HTML, CSS and browser JS) beside them, and
// records a hash of the sources it built from. `--if-stale` (npm start's prestart) builds only when
// that hash no longer matches the sources, so a start after `git pull` runs the new code and a
// start without changes costs a hash of the sources (tens of ms), not a compile (10-20 s).
// `--out-dir <dir>` builds elsewhere (the build test); imports still resolve through the
// repository's node_modules when the directory is inside it.
import console from 'node:console';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath, URL } from 'node:url';
import { buildState, COMPILED_DIRS, SOURCE_STAMP } from './build-state.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const ifStale = args.includes('--if-stale');
const outIndex = args.indexOf('--out-dir');
const outDir = path.resolve(root, outIndex >= 0 ? (args[outIndex + 1] ?? '') : 'dist');

// The directory is emptied first (a deleted source must not live on as a stale module), so refuse one
// that holds more than build output: the repository itself, a parent of it, or a source directory.
const within = (parent, child) => {
  const relative = path.relative(parent, child);
  return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative));
};
if (within(outDir, root) || COMPILED_DIRS.some((dir) => within(path.join(root, dir), outDir))) {
  console.error(`build: refusing to empty ${outDir} (the repository, a parent of it, or a source directory)`);
  process.exit(2);
}

const state = buildState(root, outDir);
if (ifStale && state.fresh) process.exit(0);
if (state.reason) console.error(`build: ${state.reason}; compiling into ${path.relative(process.cwd(), outDir) || '.'}`);

const began = Date.now();
let tsc;
try {
  tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
} catch {
  console.error('build: TypeScript is not installed (it is a dev dependency). Run `npm ci` (without --omit=dev), then `npm run build`.');
  process.exit(1);
}

rmSync(outDir, { recursive: true, force: true });
const compiled = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json'), '--outDir', outDir], { cwd: root, stdio: 'inherit' });
if (compiled.status !== 0) {
  console.error(`build: tsc failed (exit ${compiled.status ?? compiled.signal})`);
  process.exit(1);
}
// Everything tsc leaves behind is a runtime asset read through import.meta.url (dashboard.route.ts).
for (const file of state.sources) {
  if (file.endsWith('.ts')) continue;
  mkdirSync(path.dirname(path.join(outDir, file)), { recursive: true });
  cpSync(path.join(root, file), path.join(outDir, file));
}
if (!existsSync(path.join(outDir, 'src', 'main.js'))) {
  console.error(`build: tsc wrote no ${path.join(outDir, 'src', 'main.js')}`);
  process.exit(1);
}
// The hash of the sources as they were read before tsc ran: a file edited during the build makes the next check stale.
writeFileSync(path.join(outDir, SOURCE_STAMP), `${state.hash}\n`);
console.error(`build: compiled into ${path.relative(process.cwd(), outDir) || '.'} in ${((Date.now() - began) / 1000).toFixed(1)} s`);
