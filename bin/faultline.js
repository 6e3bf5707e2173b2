#!/usr/bin/env node
// In a source checkout (src/ present) the TypeScript runs through tsx, so `npm ci && npx
// faultline demo` needs no build step and never runs a stale build. An installed package or the
// container image, which ship dist/ only, run the compiled JavaScript.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const source = new URL('../src/cli/main.ts', import.meta.url);
const compiled = new URL('../dist/cli/main.js', import.meta.url);
if (existsSync(fileURLToPath(source))) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(source.href);
} else {
  await import(pathToFileURL(fileURLToPath(compiled)).href);
}
