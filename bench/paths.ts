/** The paths a workload runs through: direct, the sidecar in several set-ups, and the references. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type Upstream = 'echo' | 'sink' | 'http' | 'ws' | 'grpc' | 'fastHttp';
export type Ports = Record<Upstream, number>;
export const UPSTREAMS: Upstream[] = ['echo', 'sink', 'http', 'ws', 'grpc', 'fastHttp'];

export interface RunningPath {
  name: string;
  ports: Ports;
  /** The proxy process, for RSS; undefined for direct. */
  pid: number | undefined;
  stop(): void;
}

export interface PathSpec {
  name: string;
  describe: string;
  start(upstream: Ports, cpu: number): Promise<RunningPath | { unsupported: string }>;
}

const BIN = fileURLToPath(new URL('../bin/faultline.js', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export async function waitConnectable(port: number, ms = 15_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => (s.destroy(), resolve(true)));
      s.on('error', () => resolve(false));
    });
    if (ok) return true;
    await sleep(50);
  }
  return false;
}

export function pinned(cpu: number, command: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  return spawn('taskset', ['-c', String(cpu), command, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}

async function listenPorts(): Promise<Ports> {
  const entries = await Promise.all(UPSTREAMS.map(async (u) => [u, await freePort()] as const));
  return Object.fromEntries(entries) as Ports;
}

async function ready(child: ChildProcess, ports: Ports, name: string, upstream?: Ports): Promise<RunningPath | { unsupported: string }> {
  let output = '';
  if (upstream) for (const u of UPSTREAMS) if (upstream[u] === 0) ports[u] = 0;
  child.stdout?.on('data', (d: Buffer) => (output += d));
  child.stderr?.on('data', (d: Buffer) => (output += d));
  for (const port of Object.values(ports).filter((p) => p !== 0)) {
    if (!(await waitConnectable(port, 10_000))) {
      child.kill('SIGKILL');
      const reason = output.split('\n').find((l) => /error|faultline:|alert/i.test(l)) ?? 'no listener';
      return { unsupported: `did not start: ${reason.replace(/\|/g, '/')}`.slice(0, 300) };
    }
  }
  return { name, ports, pid: child.pid, stop: () => child.kill('SIGKILL') };
}

function sidecarPath(name: string, describe: string, rules: string): PathSpec {
  return {
    name,
    describe,
    async start(upstream, cpu) {
      const ports = await listenPorts();
      const listeners = UPSTREAMS.filter((u) => upstream[u] !== 0)
        .map((u) => `    - {name: ${u}, listen: "127.0.0.1:${ports[u]}", upstream: "127.0.0.1:${upstream[u]}"}`)
        .join('\n');
      const file = join(mkdtempSync(join(tmpdir(), 'faultline-bench-')), 'policy.yaml');
      writeFileSync(file, `apiVersion: faultline.dev/v1alpha1\nkind: FaultPolicy\nmetadata: {name: ${name}}\nspec:\n  listeners:\n${listeners}\n  rules:${rules}\n`);
      const child = pinned(cpu, process.execPath, [BIN, 'sidecar', '--policy', file, '--metrics', '127.0.0.1:0'], { FAULTLINE_LOG_LEVEL: 'error' });
      return ready(child, ports, name, upstream);
    },
  };
}

const MINIMAL_PIPE = `const net = require('net');
const pairs = JSON.parse(process.argv[1]);
for (const [listen, upstream] of pairs)
  net.createServer({ noDelay: true }, (c) => { const s = net.connect({ port: upstream, host: '127.0.0.1', noDelay: true }); c.pipe(s).pipe(c); c.on('error', () => s.destroy()); s.on('error', () => c.destroy()); }).listen(listen, '127.0.0.1');`;

export const PATHS: PathSpec[] = [
  {
    name: 'direct',
    describe: 'client to origin, no proxy',
    start: async (upstream) => ({ name: 'direct', ports: upstream, pid: undefined, stop: () => {} }),
  },
  sidecarPath('sidecar-no-policy', 'sidecar, listeners only', ' []'),
  sidecarPath('sidecar-no-match', 'sidecar, a rule that matches nothing', '\n    - {name: never, match: {ports: [1]}, faults: [{type: latency, latency: 1s}]}'),
  sidecarPath('sidecar-http-no-match', 'sidecar, an HTTP rule that matches nothing (inspecting path)', '\n    - {name: never, match: {protocol: http, http: {paths: ["/never/*"]}}, faults: [{type: http_abort, status: 503}]}'),
  sidecarPath('sidecar-latency-0', 'sidecar, a 0 ms latency fault both ways (cost of a chain)', '\n    - {name: zero, faults: [{type: latency, latency: 0ms, stream: both}]}'),
  {
    name: 'node-pipe',
    describe: 'a minimal Node pipe proxy (the floor for any Node proxy)',
    async start(upstream, cpu) {
      const ports = await listenPorts();
      const pairs = UPSTREAMS.filter((u) => upstream[u] !== 0).map((u) => [ports[u], upstream[u]]);
      return ready(pinned(cpu, process.execPath, ['-e', MINIMAL_PIPE, JSON.stringify(pairs)]), ports, 'node-pipe', upstream);
    },
  },
  {
    name: 'haproxy',
    describe: 'HAProxy in tcp mode (best-in-class reference)',
    async start(upstream, cpu) {
      if (spawnSync('haproxy', ['-v']).status !== 0) return { unsupported: 'haproxy is not installed (apt-get install haproxy)' };
      const ports = await listenPorts();
      const sections = UPSTREAMS.filter((u) => upstream[u] !== 0).map((u) => `listen ${u}\n  bind 127.0.0.1:${ports[u]}\n  server s 127.0.0.1:${upstream[u]}\n`).join('');
      const file = join(mkdtempSync(join(tmpdir(), 'faultline-bench-')), 'haproxy.cfg');
      writeFileSync(file, `global\n  maxconn 9000\n  nbthread 1\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n${sections}`);
      return ready(pinned(cpu, 'haproxy', ['-f', file, '-db']), ports, 'haproxy', upstream);
    },
  },
];
