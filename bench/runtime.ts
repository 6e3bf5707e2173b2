/**
 * The environment the container image runs the sidecar with (the runtime stage's ENV lines of
 * the Dockerfile), so that the bench measures the sidecar as it ships: one source of truth.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const DOCKERFILE = new URL('../Dockerfile', import.meta.url);

/** `ENV KEY=VALUE` lines of the Dockerfile's last stage (the runtime image). */
export function imageEnv(text = readFileSync(DOCKERFILE, 'utf8')): Record<string, string> {
  const stages = text.split(/^FROM\s.*$/m);
  const runtime = stages.at(-1) ?? '';
  const env: Record<string, string> = {};
  for (const line of runtime.split('\n')) {
    const m = /^ENV\s+([A-Za-z_][A-Za-z0-9_]*)=(\S+)\s*$/.exec(line);
    if (m) env[m[1] as string] = m[2] as string;
  }
  return env;
}

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** The CLI entry a source checkout runs (TypeScript through tsx). */
export const SOURCE_CLI = join(ROOT, 'bin/faultline.js');
/** The compiled CLI (dist/), what the container image and an installed package run. */
export const COMPILED_CLI = join(ROOT, 'dist/cli/main.js');

let compiled = false;

/**
 * Builds dist/ (`npm run build`) once per bench process, so that the sidecar it starts is the
 * compiled JavaScript the image runs. Run from a source checkout, `bin/faultline.js` runs the
 * TypeScript through tsx, whose output names each function (`__name`): every closure a
 * connection makes then carries a property table of its own, about 1.2 KiB and a defineProperty
 * per connection that the image never pays.
 */
export function buildCompiledCli(): void {
  if (compiled) return;
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  compiled = true;
}

/** The CLI the bench starts sidecars with: compiled once `buildCompiledCli` ran, else the source entry. */
export function sidecarCli(): string {
  return compiled ? COMPILED_CLI : SOURCE_CLI;
}
