/** The paths a workload runs through: direct, the sidecar in several set-ups, and the references. */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { processes } from './processes.js';
import { imageEnv, sidecarCli } from './runtime.js';

export type Upstream = 'echo' | 'sink' | 'http' | 'ws' | 'grpc' | 'fastHttp';
export type Ports = Record<Upstream, number>;
export const UPSTREAMS: Upstream[] = ['echo', 'sink', 'http', 'ws', 'grpc', 'fastHttp'];

export interface RunningPath {
  name: string;
  ports: Ports;
  /** The proxy process, for its CPU time and RSS; undefined for direct. */
  pid: number | undefined;
  stop(): void;
}

export interface PathSpec {
  name: string;
  describe: string;
  start(upstream: Ports, cpu: number): Promise<RunningPath | { unsupported: string }>;
}

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

/** A process of the run on `cpu` (taskset), its output piped. */
export function pinned(cpu: number, command: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  return processes.spawn('taskset', ['-c', String(cpu), command, ...args], { env });
}

async function listenPorts(): Promise<Ports> {
  const entries = await Promise.all(UPSTREAMS.map(async (u) => [u, await freePort()] as const));
  return Object.fromEntries(entries) as Ports;
}

/** Waits until every port listens; a process that dies or never listens is reported, not fatal. */
export async function ready(child: ChildProcess, ports: Ports, name: string, upstream?: Ports): Promise<RunningPath | { unsupported: string }> {
  let output = '';
  let exited = false;
  if (upstream) for (const u of UPSTREAMS) if (upstream[u] === 0) ports[u] = 0;
  child.stdout?.on('data', (d: Buffer) => (output += d));
  child.stderr?.on('data', (d: Buffer) => (output += d));
  child.once('exit', () => (exited = true));
  child.once('error', (err) => (output += `${err.message}\n`));
  for (const port of Object.values(ports).filter((p) => p !== 0)) {
    if (exited || !(await waitConnectable(port, 10_000))) {
      child.kill('SIGKILL');
      const reason = output.split('\n').find((l) => /error|faultline:|alert|ENOENT|EACCES/i.test(l)) ?? (exited ? 'exited at once' : 'no listener');
      return { unsupported: `did not start: ${reason.replace(/\|/g, '/')}`.slice(0, 300) };
    }
  }
  return { name, ports, pid: child.pid, stop: () => child.kill('SIGKILL') };
}

/** glibc's and Node's defaults: no tunable, whatever the runner's environment says. */
const DEFAULTS: NodeJS.ProcessEnv = { GLIBC_TUNABLES: '' };

function sidecarPath(name: string, describe: string, rules: string, env: NodeJS.ProcessEnv = imageEnv()): PathSpec {
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
      // As the image runs it (its ENV); the admin API on a port of its own, never the default.
      const child = pinned(cpu, process.execPath, [sidecarCli(), 'sidecar', '--policy', file, '--metrics', '127.0.0.1:0', '--admin', '127.0.0.1:0'], { ...env, FAULTLINE_LOG_LEVEL: 'error' });
      return ready(child, ports, name, upstream);
    },
  };
}

export const MINIMAL_PIPE = `const net = require('net');
const pairs = JSON.parse(process.argv[1]);
for (const [listen, upstream] of pairs)
  net.createServer({ noDelay: true }, (c) => { const s = net.connect({ port: upstream, host: '127.0.0.1', noDelay: true }); c.pipe(s).pipe(c); c.on('error', () => s.destroy()); s.on('error', () => c.destroy()); }).listen(listen, '127.0.0.1');`;

/**
 * The minimal Node pipe proxy, under the same runtime settings as the sidecar image (or Node's
 * and glibc's defaults with `defaults`).
 */
export function nodePipe(name = 'node-pipe', defaults = false): PathSpec {
  return {
    name,
    describe: defaults ? 'the minimal Node pipe proxy, glibc and Node defaults' : 'a minimal Node pipe proxy (the floor for any Node proxy), same runtime settings as the sidecar',
    async start(upstream, cpu) {
      const ports = await listenPorts();
      const pairs = UPSTREAMS.filter((u) => upstream[u] !== 0).map((u) => [ports[u], upstream[u]]);
      return ready(pinned(cpu, process.execPath, ['-e', MINIMAL_PIPE, JSON.stringify(pairs)], defaults ? DEFAULTS : imageEnv()), ports, name, upstream);
    },
  };
}

/** A sidecar with listeners only, as the image runs it (or with glibc's and Node's defaults). */
export function plainSidecar(name = 'sidecar-no-policy', defaults = false): PathSpec {
  return sidecarPath(name, defaults ? 'sidecar, listeners only, glibc defaults' : 'sidecar, listeners only', ' []', defaults ? DEFAULTS : imageEnv());
}

/**
 * Toxiproxy (`toxiproxy-server` at `binary`), driven through its HTTP API: one proxy per
 * upstream, and with `latency0` a 0 ms latency toxic both ways on each.
 */
export function toxiproxyPath(binary: string, latency0: boolean): PathSpec {
  const name = latency0 ? 'toxiproxy-latency-0' : 'toxiproxy';
  return {
    name,
    describe: latency0 ? 'Toxiproxy, a 0 ms latency toxic both ways' : 'Toxiproxy, no toxic',
    async start(upstream, cpu) {
      const ports = await listenPorts();
      const api = await freePort();
      const child = pinned(cpu, binary, ['-host', '127.0.0.1', '-port', String(api)]);
      const up = await ready(child, { ...Object.fromEntries(UPSTREAMS.map((u) => [u, 0])), echo: api } as Ports, name);
      if ('unsupported' in up) return up;
      try {
        for (const u of UPSTREAMS.filter((x) => upstream[x] !== 0)) {
          await toxiproxyApi(api, 'POST', '/proxies', { name: u, listen: `127.0.0.1:${ports[u]}`, upstream: `127.0.0.1:${upstream[u]}`, enabled: true });
          if (latency0) {
            for (const stream of ['upstream', 'downstream']) {
              await toxiproxyApi(api, 'POST', `/proxies/${u}/toxics`, { name: `zero-${stream}`, type: 'latency', stream, toxicity: 1, attributes: { latency: 0, jitter: 0 } });
            }
          }
        }
      } catch (err) {
        child.kill('SIGKILL');
        return { unsupported: `Toxiproxy API: ${(err as Error).message}`.slice(0, 300) };
      }
      return ready(child, ports, name, upstream);
    },
  };
}

async function toxiproxyApi(port: number, method: string, path: string, body: unknown): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${(await res.text()).slice(0, 120)}`);
}

/** Whether `path` is an executable file (a `--toxiproxy` argument is checked before the run). */
export function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

const haproxy: PathSpec = {
  name: 'haproxy',
  describe: 'HAProxy in tcp mode (best-in-class reference)',
  async start(upstream, cpu) {
    if (spawnSync('haproxy', ['-v']).status !== 0) return { unsupported: 'haproxy is not installed (apt-get install haproxy)' };
    const ports = await listenPorts();
    const sections = UPSTREAMS.filter((u) => upstream[u] !== 0).map((u) => `listen ${u}\n  bind 127.0.0.1:${ports[u]}\n  server s 127.0.0.1:${upstream[u]}\n`).join('');
    const file = join(mkdtempSync(join(tmpdir(), 'faultline-bench-')), 'haproxy.cfg');
    // HAProxy needs two descriptors per connection and refuses a maxconn the open-file limit cannot hold.
    const fdLimit = Number(spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).stdout.trim()) || 1024;
    writeFileSync(file, `global\n  maxconn ${Math.max(100, Math.floor((fdLimit - 200) / 2))}\n  nbthread 1\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n${sections}`);
    return ready(pinned(cpu, 'haproxy', ['-f', file, '-db']), ports, 'haproxy', upstream);
  },
};

/**
 * The paths of a run, in the order each round runs them (every other round reversed): the
 * plain sidecar right beside the pipe it is compared with. `toxiproxy` adds its two paths.
 */
export function paths(toxiproxy?: string): PathSpec[] {
  return [
    { name: 'direct', describe: 'client to origin, no proxy', start: async (upstream) => ({ name: 'direct', ports: upstream, pid: undefined, stop: () => {} }) },
    nodePipe(),
    plainSidecar(),
    sidecarPath('sidecar-no-match', 'sidecar, a rule that matches nothing', '\n    - {name: never, match: {ports: [1]}, faults: [{type: latency, latency: 1s}]}'),
    sidecarPath('sidecar-http-no-match', 'sidecar, an HTTP rule that matches nothing (inspecting path)', '\n    - {name: never, match: {protocol: http, http: {paths: ["/never/*"]}}, faults: [{type: http_abort, status: 503}]}'),
    sidecarPath('sidecar-latency-0', 'sidecar, a 0 ms latency fault both ways (cost of a chain)', '\n    - {name: zero, faults: [{type: latency, latency: 0ms, stream: both}]}'),
    haproxy,
    ...(toxiproxy ? [toxiproxyPath(toxiproxy, false), toxiproxyPath(toxiproxy, true)] : []),
  ];
}
