#!/usr/bin/env node
// In a source checkout (src/ present) the TypeScript runs through tsx, so `npm ci && npx
// faultline demo` needs no build step and never runs a stale build. An installed package or the
// container image, which ship dist/ only, run the compiled JavaScript.
// `faultline interception-helper` (the root helper the sidecar starts for on-demand interception)
// loads its own few modules instead of the whole CLI: it lives as long as the sidecar.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const helper = process.argv[2] === 'interception-helper';
const entry = helper ? 'interception/helper-main' : 'cli/main';
const source = new URL(`../src/${entry}.ts`, import.meta.url);
const compiled = new URL(`../dist/${entry}.js`, import.meta.url);
if (existsSync(fileURLToPath(source))) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(source.href);
} else {
  await import(pathToFileURL(fileURLToPath(compiled)).href);
}
