/**
 * Bulk throughput where each sample is a fresh proxy process: one connection, `bytes` through
 * it, the proxy stopped. A process-wide state (heap layout, the allocator's trimming, JIT) that
 * made some processes slow for their whole life shows here as a low minimum, which a run of
 * rounds through one long-lived process would hide. Configurations alternate, so drift on a
 * shared machine spreads over all of them.
 *
 *   node --import tsx bench/fresh.ts [--quick]     (its own origins; `npm run bench` runs it too)
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { nodePipe, plainSidecar, UPSTREAMS, type PathSpec, type Ports } from './paths.js';
import { processes } from './processes.js';
import { stats, type Results } from './report.js';
import { bulk, cpuSeconds, minorFaults } from './workloads.js';

type Fresh = NonNullable<Results['fresh']>;

/** The configurations: as shipped, and (with `defaults`) under glibc's defaults, which shows the cause. */
function configs(defaults: boolean): PathSpec[] {
  return [plainSidecar(), nodePipe(), ...(defaults ? [plainSidecar('sidecar, glibc defaults', true), nodePipe('node-pipe, glibc defaults', true)] : [])];
}

export async function measureFresh(upstream: Ports, cpu: number, size: { processes: number; bytes: number; defaults: boolean }, progress: (s: string) => void = () => {}): Promise<Fresh> {
  const specs = configs(size.defaults);
  const out: Fresh = { bytes: size.bytes, processes: size.processes, configs: Object.fromEntries(specs.map((s) => [s.name, { describe: s.describe, mibs: [], cpuSPerGiB: [], faultsPerGiB: [] }])) };
  // Only the sink: a fresh process binds nothing else.
  const sinkOnly = Object.fromEntries(UPSTREAMS.map((u) => [u, u === 'sink' ? upstream.sink : 0])) as Ports;
  for (let i = 0; i < size.processes; i++) {
    for (const spec of i % 2 === 0 ? specs : [...specs].reverse()) {
      progress(`bulk in fresh processes ${i + 1}/${size.processes}  ${spec.name}`);
      const path = await spec.start(sinkOnly, cpu);
      if ('unsupported' in path) throw new Error(`${spec.name}: ${path.unsupported}`);
      const pid = path.pid as number;
      const [cpuBefore, faultsBefore] = [cpuSeconds(pid), minorFaults(pid)];
      const mibs = await bulk(path.ports.sink, size.bytes);
      const gib = size.bytes / 1024 ** 3;
      const entry = out.configs[spec.name] as Fresh['configs'][string];
      entry.cpuSPerGiB.push((cpuSeconds(pid) - cpuBefore) / gib);
      entry.faultsPerGiB.push((minorFaults(pid) - faultsBefore) / gib);
      entry.mibs.push(mibs);
      path.stop();
    }
  }
  return out;
}

if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const quick = process.argv.includes('--quick');
  const origins = processes.spawn('taskset', ['-c', '0', process.execPath, '--import', 'tsx', fileURLToPath(new URL('upstreams.ts', import.meta.url))], { stdio: ['ignore', 'pipe', 'inherit'] });
  const upstream = await new Promise<Ports>((resolve) => origins.stdout?.once('data', (d: Buffer) => resolve(JSON.parse(String(d).split('\n')[0] as string) as Ports)));
  const r = await measureFresh(upstream, 0, { processes: quick ? 3 : 10, bytes: quick ? 256 * 1024 ** 2 : 1024 ** 3, defaults: true }, (s) => process.stderr.write(process.stderr.isTTY ? `\r\x1b[K${s}` : `${s}\n`));
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
  for (const [name, c] of Object.entries(r.configs)) {
    const m = stats(c.mibs);
    console.log(`${name.padEnd(26)} MiB/s min ${m.min.toFixed(0)} median ${m.median.toFixed(0)} max ${m.max.toFixed(0)}  CPU s/GiB median ${stats(c.cpuSPerGiB).median.toFixed(2)}  page faults/GiB median ${stats(c.faultsPerGiB).median.toFixed(0)}`);
    console.log(`  per process: ${c.mibs.map((x, i) => `${x.toFixed(0)} MiB/s ${(c.cpuSPerGiB[i] as number).toFixed(2)} s/GiB ${((c.faultsPerGiB[i] as number) / 1000).toFixed(0)}k faults/GiB`).join('; ')}`);
  }
  process.exit(0);
}
