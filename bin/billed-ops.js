#!/usr/bin/env node
// The ops CLI's bin. It runs the compiled CLI (dist/, what `npm run build` writes and the image
// holds). From a checkout whose dist/ is missing or older than the sources, it runs the TypeScript
// source through tsx instead (a dev dependency), so `npm run ops` never runs yesterday's code.
import console from 'node:console';
import { existsSync } from 'node:fs';
import process from 'node:process';
import { fileURLToPath, URL } from 'node:url';

const root = new URL('../', import.meta.url);
const compiled = new URL('dist/src/ops/cli/main.js', root);
const checkout = existsSync(new URL('src/ops/cli/main.ts', root));

let entry = compiled;
if (checkout) {
  const { buildState } = await import('../scripts/build-state.js');
  const { fresh } = buildState(fileURLToPath(root));
  if (!fresh) {
    try {
      const { register } = await import('tsx/esm/api');
      register();
      entry = new URL('src/ops/cli/main.ts', root);
    } catch {
      if (!existsSync(compiled)) {
        console.error('billed-ops: no build and no tsx: run `npm ci`, then `npm run build`.');
        process.exit(1);
      }
      console.error('billed-ops: dist/ is older than the sources and tsx is not installed; running dist/ (`npm run build` updates it).');
    }
  }
}
const { run } = await import(entry.href);
process.exitCode = await run(process.argv);
