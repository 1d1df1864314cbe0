// Whether dist/ was built from the sources as they are now: shared by scripts/build.js (npm start's
// prestart) and bin/billed-ops.js. The build records a hash of every source file's path and bytes;
// a hash (not modification times) also catches a file deleted, renamed, or restored with an old time.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';

/** The directories tsc compiles for the runtime (tsconfig.build.json's include). */
export const COMPILED_DIRS = ['config', 'src', 'workers'];
/** The file in the output directory that holds the hash the build was made from. */
export const SOURCE_STAMP = '.source-hash';
const SETTINGS = ['tsconfig.json', 'tsconfig.build.json'];

function filesUnder(root, dir) {
  if (!existsSync(path.join(root, dir))) return [];
  return readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((entry) => {
    const file = `${dir}/${entry.name}`;
    return entry.isDirectory() ? filesUnder(root, file) : [file];
  });
}

/**
 * `{ fresh, reason, hash, sources }` for the build in `outDir`. Without sources (the image holds
 * dist/ only) a build that exists is fresh: there is nothing to compare it with.
 */
export function buildState(root, outDir = path.join(root, 'dist')) {
  const sources = COMPILED_DIRS.flatMap((dir) => filesUnder(root, dir)).sort();
  const built = existsSync(path.join(outDir, 'src', 'main.js'));
  const where = path.relative(process.cwd(), outDir) || '.';
  if (sources.length === 0) return { fresh: built, reason: built ? undefined : `${where} holds no build and there are no sources to build`, hash: '', sources };

  const hash = createHash('sha256');
  for (const file of [...sources, ...SETTINGS.filter((f) => existsSync(path.join(root, f)))]) {
    hash.update(`${file}\0`).update(readFileSync(path.join(root, file))).update('\0');
  }
  const digest = hash.digest('hex');
  const stampFile = path.join(outDir, SOURCE_STAMP);
  const stamp = existsSync(stampFile) ? readFileSync(stampFile, 'utf8').trim() : undefined;
  const reason = !built || stamp === undefined ? `${where} holds no build` : stamp !== digest ? `the sources changed since ${where} was built` : undefined;
  return { fresh: reason === undefined, reason, hash: digest, sources };
}
