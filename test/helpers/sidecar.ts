import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { pino, type Logger } from 'pino';
import { Metrics } from '../../src/metrics.js';
import { Sidecar } from '../../src/sidecar.js';
import type { TlsFiles } from '../../src/tls/authority.js';

/** A policy document around `listeners` and `rules` (YAML flow text, indented by the caller). */
export function policyText(spec: { listeners?: string[]; rules?: string; extra?: string; name?: string }): string {
  return [
    'apiVersion: faultline.dev/v1alpha1',
    'kind: FaultPolicy',
    `metadata: {name: ${spec.name ?? 'test'}}`,
    'spec:',
    ...(spec.extra ? [spec.extra] : []),
    '  listeners:',
    ...(spec.listeners ?? []).map((l) => `    - ${l}`),
    ...(spec.rules ? ['  rules:', spec.rules] : ['  rules: []']),
    '',
  ].join('\n');
}

/**
 * A test's end: connections the test left open are closed (a FIN, as the test's own sockets
 * expect), then the sidecar drains at once. A drain's deadline would reset them instead.
 */
export function stopSidecar(sidecar: Sidecar): Promise<void> {
  for (const conn of [...sidecar.connections]) conn.close('test over');
  return sidecar.drain(0);
}

/** A temporary directory removed at teardown. */
export function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'faultline-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * An in-process sidecar with one listener `up` (127.0.0.1:0 → 127.0.0.1:upstreamPort) and the
 * given rules, loaded from a real file (so reloads go through the watcher). Drained at teardown.
 */
export async function startSidecar(
  t: Test,
  upstreamPort: number,
  rules?: string,
  options: { random?: () => number; extraListeners?: string[]; extra?: string; tls?: TlsFiles; tlsPollMs?: number; log?: Logger } = {},
): Promise<{ sidecar: Sidecar; port: number; file: string; write: (rules?: string, extra?: string) => void }> {
  const dir = tempDir(t);
  const file = join(dir, 'policy.yaml');
  const listeners = [`{name: up, listen: "127.0.0.1:0", upstream: "127.0.0.1:${upstreamPort}"}`, ...(options.extraListeners ?? [])];
  const write = (r?: string, extra?: string) => writeFileSync(file, policyText({ listeners, rules: r, extra }));
  write(rules, options.extra);
  const sidecar = new Sidecar({
    policyFile: file,
    pollIntervalMs: 50,
    log: options.log ?? pino({ level: process.env.FAULTLINE_TEST_LOG ?? 'silent' }),
    metrics: new Metrics({ processMetrics: false }),
    ...(options.random ? { random: options.random } : {}),
    ...(options.tls ? { tls: options.tls, tlsPollMs: options.tlsPollMs ?? 10_000 } : {}),
  });
  await sidecar.start();
  t.teardown(() => stopSidecar(sidecar));
  return { sidecar, port: sidecar.address('up').port, file, write };
}
