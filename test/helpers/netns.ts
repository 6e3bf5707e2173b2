import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import type { Test } from 'tap';

/**
 * Why this process cannot create network namespaces and run iptables (not root, a tool missing),
 * or false when it can. Under CI (`CI=true`) it is always false: CI installs everything, so a
 * missing tool must fail the tests rather than skip them.
 */
export function canUseNetns(): string | false {
  if (process.env.CI === 'true') return false;
  if (process.getuid?.() !== 0) return 'needs root';
  for (const tool of ['ip', 'iptables', 'setpriv']) {
    try {
      execFileSync('which', [tool], { stdio: 'ignore' });
    } catch {
      return `needs ${tool}`;
    }
  }
  return false;
}

/** Runs a command inside a namespace and returns its stdout. */
export function nsExec(ns: string, args: string[], options: { input?: string } = {}): string {
  return execFileSync('ip', ['netns', 'exec', ns, ...args], { encoding: 'utf8', input: options.input, stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Starts a long-running process inside a namespace; killed at teardown. */
export function nsSpawn(t: Test, ns: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess & { output: () => string } {
  const child = spawn('ip', ['netns', 'exec', ns, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d));
  child.stderr?.on('data', (d: Buffer) => (output += d));
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  return Object.assign(child, { output: () => output });
}

/**
 * Three namespaces joined by veth pairs, made for one test and removed at its teardown (also
 * when it fails): client (10.201.0.1, fd00:201::1) — pod (10.201.0.2 / 10.202.0.1,
 * fd00:201::2 / fd00:202::1) — remote (10.202.0.2, fd00:202::2).
 */
export function threeHosts(t: Test): { client: string; pod: string; remote: string } {
  const id = `${process.pid % 10000}${Math.floor(Math.random() * 100)}`;
  const client = `flc${id}`;
  const pod = `flp${id}`;
  const remote = `flr${id}`;
  const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
  t.teardown(() => {
    for (const ns of [client, pod, remote]) {
      try {
        ip('netns', 'del', ns);
      } catch {
        // already gone
      }
    }
  });
  for (const ns of [client, pod, remote]) {
    ip('netns', 'add', ns);
    ip('-n', ns, 'link', 'set', 'lo', 'up');
  }
  const pair = (a: string, aName: string, aAddr: string, b: string, bName: string, bAddr: string) => {
    ip('link', 'add', aName, 'type', 'veth', 'peer', 'name', bName);
    ip('link', 'set', aName, 'netns', a);
    ip('link', 'set', bName, 'netns', b);
    ip('-n', a, 'addr', 'add', aAddr, 'dev', aName);
    ip('-n', b, 'addr', 'add', bAddr, 'dev', bName);
    ip('-n', a, 'link', 'set', aName, 'up');
    ip('-n', b, 'link', 'set', bName, 'up');
  };
  // IPv6 addresses skip duplicate address detection, so they work at once.
  const pair6 = (a: string, aName: string, aAddr: string, b: string, bName: string, bAddr: string) => {
    ip('-n', a, '-6', 'addr', 'add', aAddr, 'dev', aName, 'nodad');
    ip('-n', b, '-6', 'addr', 'add', bAddr, 'dev', bName, 'nodad');
  };
  pair(client, `c${id}`, '10.201.0.1/24', pod, `pc${id}`, '10.201.0.2/24');
  pair(pod, `pr${id}`, '10.202.0.1/24', remote, `r${id}`, '10.202.0.2/24');
  pair6(client, `c${id}`, 'fd00:201::1/64', pod, `pc${id}`, 'fd00:201::2/64');
  pair6(pod, `pr${id}`, 'fd00:202::1/64', remote, `r${id}`, 'fd00:202::2/64');
  return { client, pod, remote };
}

/** A node script, run inside a namespace, that does `count` echo round trips and prints the median. */
export function echoProbe(ns: string, host: string, port: number, count = 5): { medianMs: number } | { error: string } {
  const script = `
const net = require('net');
const s = net.connect(${port}, '${host}');
const times = [];
s.setTimeout(5000, () => { console.log(JSON.stringify({ error: 'timeout' })); process.exit(0); });
s.on('error', (e) => { console.log(JSON.stringify({ error: e.code || e.message })); process.exit(0); });
s.on('connect', () => {
  let started = 0;
  const next = () => { started = performance.now(); s.write('ping'); };
  s.on('data', () => {
    times.push(performance.now() - started);
    if (times.length < ${count}) return next();
    times.sort((a, b) => a - b);
    console.log(JSON.stringify({ medianMs: times[Math.floor(times.length / 2)] }));
    process.exit(0);
  });
  next();
});`;
  return JSON.parse(nsExec(ns, [process.execPath, '-e', script]).trim()) as { medianMs: number } | { error: string };
}

/** One empty namespace (loopback up) for one test, removed at its teardown (also when it fails). */
export function oneNamespace(t: Test, prefix: string): string {
  const ns = `${prefix}${process.pid % 10000}${Math.floor(Math.random() * 1000)}`;
  t.teardown(() => {
    try {
      execFileSync('ip', ['netns', 'del', ns], { stdio: 'pipe' });
    } catch {
      // already gone
    }
  });
  execFileSync('ip', ['netns', 'add', ns], { stdio: 'pipe' });
  execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up'], { stdio: 'pipe' });
  return ns;
}

/** Whether ip6tables' nat table works in namespace `ns` (kernels without IPv6 NAT exist). */
export function ip6NatWorks(ns: string): boolean {
  try {
    nsExec(ns, ['ip6tables', '-t', 'nat', '-L', '-n']);
    return true;
  } catch {
    return false;
  }
}

/** What one round trip on a held connection gave: its time, the socket's error, or no answer in time. */
export type HeldReply = { ms: number } | { error: string } | { timeout: true };

/**
 * An echo connection from namespace `ns` to host:port that stays open (a node process driven
 * over stdin), for what happens to a live connection while rules change. Killed at teardown.
 */
export async function heldConnection(t: Test, ns: string, host: string, port: number): Promise<{ ping(timeoutMs?: number): Promise<HeldReply>; close(): void }> {
  const script = `
const s = require('net').connect(${port}, '${host}');
let t0 = 0, waiting = false, timer;
const say = (o) => console.log(JSON.stringify(o));
s.on('connect', () => say({ connected: true }));
s.on('data', () => { if (!waiting) return; waiting = false; clearTimeout(timer); say({ ms: performance.now() - t0 }); });
s.on('error', (e) => { waiting = false; clearTimeout(timer); say({ error: e.code || e.message }); });
const rl = require('readline').createInterface({ input: process.stdin });
rl.on('close', () => s.end());
rl.on('line', (ms) => {
  if (s.destroyed) return say({ error: 'closed' });
  t0 = performance.now(); waiting = true; s.write('ping');
  timer = setTimeout(() => { if (waiting) { waiting = false; say({ timeout: true }); } }, Number(ms));
});`;
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.teardown(() => void child.kill('SIGKILL'));
  const lines: Record<string, unknown>[] = [];
  const waiters: ((line: Record<string, unknown>) => void)[] = [];
  let buffered = '';
  child.stdout.on('data', (d: Buffer) => {
    buffered += d;
    for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
      const line = JSON.parse(buffered.slice(0, nl)) as Record<string, unknown>;
      buffered = buffered.slice(nl + 1);
      const waiter = waiters.shift();
      if (waiter) waiter(line);
      else lines.push(line);
    }
  });
  const next = () => new Promise<Record<string, unknown>>((resolve) => (lines.length ? resolve(lines.shift() as Record<string, unknown>) : waiters.push(resolve)));
  const first = await next();
  if (!first.connected) throw new Error(`held connection to ${host}:${port} failed: ${JSON.stringify(first)}`);
  return {
    async ping(timeoutMs = 2000) {
      child.stdin.write(`${timeoutMs}\n`);
      return (await next()) as HeldReply;
    },
    close: () => void child.stdin.end(),
  };
}
