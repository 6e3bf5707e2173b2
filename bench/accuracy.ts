/** Fault accuracy through a real sidecar: latency, bandwidth, probability, reload-to-effect. */
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, pinned, waitConnectable } from './paths.js';
import { roundTrip } from './workloads.js';

const BIN = fileURLToPath(new URL('../bin/faultline.js', import.meta.url));
const RATES: [string, number][] = [
  ['64KiB/s', 64 * 1024],
  ['1MiB/s', 1024 ** 2],
  ['16MiB/s', 16 * 1024 ** 2],
  ['64MiB/s', 64 * 1024 ** 2],
];

export interface Accuracy {
  latencyErrorP50Ms: number;
  latencyErrorP99Ms: number;
  bandwidthErrorPct: Record<string, number>;
  probabilityError: number;
  reloadToEffectMs: number;
}

const open = async (port: number): Promise<Socket> => {
  const s = connect(port, '127.0.0.1');
  s.setNoDelay(true);
  await new Promise((r) => s.once('connect', r));
  return s;
};

export async function measureAccuracy(echoPort: number, cpu: number, scale: number): Promise<Accuracy> {
  const names = ['lat', 'prob', 'reload', ...RATES.map((_, i) => `bw${i}`)];
  const ports = Object.fromEntries(await Promise.all(names.map(async (n) => [n, await freePort()] as const))) as Record<string, number>;
  const listeners = names.map((n) => `    - {name: ${n}, listen: "127.0.0.1:${ports[n]}", upstream: "127.0.0.1:${echoPort}"}`).join('\n');
  const rules = (withReload: boolean) =>
    [
      '    - {name: lat, match: {listener: lat}, faults: [{type: latency, latency: 100ms}]}',
      '    - {name: prob, match: {listener: prob}, faults: [{type: reset, probability: 0.3}]}',
      ...RATES.map(([rate], i) => `    - {name: bw${i}, match: {listener: bw${i}}, faults: [{type: bandwidth, rate: "${rate}"}]}`),
      ...(withReload ? ['    - {name: reload, match: {listener: reload}, faults: [{type: latency, latency: 50ms}]}'] : []),
    ].join('\n');
  const file = join(mkdtempSync(join(tmpdir(), 'faultline-bench-')), 'policy.yaml');
  const write = (withReload: boolean) => {
    writeFileSync(`${file}.tmp`, `apiVersion: faultline.dev/v1alpha1\nkind: FaultPolicy\nmetadata: {name: accuracy}\nspec:\n  listeners:\n${listeners}\n  rules:\n${rules(withReload)}\n`);
    renameSync(`${file}.tmp`, file);
  };
  write(false);
  const child = pinned(cpu, process.execPath, [BIN, 'sidecar', '--policy', file, '--metrics', '127.0.0.1:0'], { FAULTLINE_LOG_LEVEL: 'error' });
  try {
    for (const port of Object.values(ports)) if (!(await waitConnectable(port))) throw new Error('accuracy sidecar did not start');

    const lat = await open(ports.lat as number);
    await roundTrip(lat, Buffer.alloc(64)); // warm-up, not counted
    const errors: number[] = [];
    for (let i = 0; i < Math.max(10, 50 * scale); i++) errors.push((await roundTrip(lat, Buffer.alloc(64))) / 1000 - 100);
    lat.destroy();
    errors.sort((a, b) => a - b);

    const bandwidthErrorPct: Record<string, number> = {};
    for (const [i, [name, rate]] of RATES.entries()) {
      const bytes = Math.round(rate * Math.max(1, 3 * scale));
      const s = await open(ports[`bw${i}`] as number);
      let got = 0;
      let first = 0;
      const done = new Promise<void>((resolve) => {
        s.on('data', (chunk: Buffer) => {
          if (got === 0) first = performance.now();
          got += chunk.length;
          if (got >= bytes) resolve();
        });
      });
      s.write(Buffer.alloc(bytes));
      await done;
      const measured = got / ((performance.now() - first) / 1000);
      bandwidthErrorPct[name] = ((measured - rate) / rate) * 100;
      s.destroy();
    }

    const trials = Math.max(200, Math.round(2000 * scale));
    let resets = 0;
    for (let i = 0; i < trials; i += 50) {
      const outcomes = await Promise.all(
        Array.from({ length: Math.min(50, trials - i) }, () => new Promise<boolean>((resolve) => {
          // Echoed back: not reset. Anything else (ECONNRESET, EOF without data): reset.
          let echoed = false;
          const s = connect(ports.prob as number, '127.0.0.1', () => s.end('x'));
          s.on('data', () => (echoed = true));
          s.on('error', () => {});
          s.on('close', () => resolve(!echoed));
        })),
      );
      resets += outcomes.filter(Boolean).length;
    }

    const live = await open(ports.reload as number);
    const changes: number[] = [];
    for (let i = 0; i < 3; i++) {
      const changedAt = performance.now();
      write(true);
      for (;;) {
        const sentAt = performance.now();
        if ((await roundTrip(live, Buffer.alloc(64))) / 1000 >= 45) break;
        if (sentAt - changedAt > 5000) throw new Error('policy change never took effect');
        await new Promise((r) => setTimeout(r, 2));
      }
      changes.push(performance.now() - changedAt - 50);
      write(false);
      await new Promise((r) => setTimeout(r, 400));
    }
    live.destroy();
    changes.sort((a, b) => a - b);
    return {
      latencyErrorP50Ms: errors[Math.floor(errors.length / 2)] as number,
      latencyErrorP99Ms: errors[Math.min(errors.length - 1, Math.floor(errors.length * 0.99))] as number,
      bandwidthErrorPct,
      probabilityError: Math.abs(resets / trials - 0.3),
      reloadToEffectMs: changes[1] as number,
    };
  } finally {
    child.kill('SIGKILL');
  }
}
