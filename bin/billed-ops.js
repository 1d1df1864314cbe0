#!/usr/bin/env node
// The ops CLI's bin: runs the TypeScript source through tsx, so it works from a checkout without a build.
import process from 'node:process';
import { register } from 'tsx/esm/api';

register();
const { run } = await import('../src/ops/cli/main.ts');
process.exitCode = await run(process.argv);
