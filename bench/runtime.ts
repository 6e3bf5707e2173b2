/**
 * The environment the container image runs the sidecar with (the runtime stage's ENV lines of
 * the Dockerfile), so that the bench measures the sidecar as it ships: one source of truth.
 */
import { readFileSync } from 'node:fs';

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
