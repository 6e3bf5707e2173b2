import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The reliability suite's pieces (bench/soak.ts runs them): a sidecar in its own process, the
 * servers and clients around it on 127.0.0.1, and one function per probe. Every loop is bounded
 * in count and in time.
 */

const BIN = fileURLToPath(new URL('../bin/faultline.js', import.meta.url));
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A TCP server on 127.0.0.1:0, closed (with its sockets) by `close`. */
export async function server(onSocket: (socket: Socket) => void): Promise<{ port: number; close(): void }> {
  const sockets = new Set<Socket>();
  const srv: Server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.once('close', () => sockets.delete(socket));
    onSocket(socket);
  });
  await new Promise<void>((resolve) => srv.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, resolve));
  return { port: (srv.address() as AddressInfo).port, close: () => (sockets.forEach((s) => s.destroy()), srv.close()) };
}

/** A running `faultline sidecar`, its ports and its log lines. */
export interface Sidecar {
  child: ChildProcess;
  pid: number;
  ports: Record<string, number>;
  /** The last 1,000 log lines. */
  lines: Record<string, unknown>[];
  /** How many "policy applied" lines it logged. */
  applied: number;
  policyFile: string;
  writePolicy(rules: string): void;
  exited: Promise<number | null>;
  rssMiB(): number;
  fds(): number;
  metric(name: string): Promise<number>;
  stop(): void;
}

/** The policy: listeners `echo` (to an echo server), `source` (to a sender), `web` (HTTP) and `rules`. */
export function policy(upstreams: Record<string, number>, rules: string): string {
  const listeners = Object.entries(upstreams).map(([name, port]) => `    - {name: ${name}, listen: "127.0.0.1:0", upstream: "127.0.0.1:${port}"}`);
  return ['apiVersion: faultline.dev/v1alpha1', 'kind: FaultPolicy', 'metadata: {name: soak}', 'spec:', '  listeners:', ...listeners, rules ? `  rules:\n${rules}` : '  rules: []', ''].join('\n');
}

/** Starts a sidecar (raising its fd limit as far as the shell lets it) and waits for its ports. */
export async function startSidecar(upstreams: Record<string, number>, rules: string, drainTimeout = '5s'): Promise<Sidecar> {
  const dir = mkdtempSync(join(tmpdir(), 'faultline-soak-'));
  const policyFile = join(dir, 'policy.yaml');
  const writePolicy = (r: string) => writeFileSync(policyFile, policy(upstreams, r));
  writePolicy(rules);
  const args = ['sidecar', '--policy', policyFile, '--metrics', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--drain-timeout', drainTimeout];
  const script = `ulimit -n "$(ulimit -Hn)" 2>/dev/null || ulimit -n 65536 2>/dev/null; exec "${process.execPath}" "${BIN}" ${args.map((a) => `'${a}'`).join(' ')}`;
  const child = spawn('/bin/sh', ['-c', script], { env: { ...process.env, FAULTLINE_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: Record<string, unknown>[] = [];
  const ports: Record<string, number> = {};
  const pid = child.pid as number;
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const sidecar: Sidecar = {
    child,
    pid,
    ports,
    lines,
    applied: 0,
    policyFile,
    writePolicy,
    exited,
    rssMiB: () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024,
    fds: () => readdirSync(`/proc/${pid}/fd`).length,
    async metric(name) {
      const text = await (await fetch(`http://127.0.0.1:${ports.metrics}/metrics`)).text();
      return [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))].reduce((sum, m) => sum + Number(m[1]), 0);
    },
    stop() {
      if (child.exitCode === null) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
  let buffered = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
      const text = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      try {
        const line = JSON.parse(text) as Record<string, unknown>;
        lines.push(line);
        if (lines.length > 1000) lines.shift();
        if (line.msg === 'policy applied') sidecar.applied++;
        if (line.msg === 'listening') ports[String(line.listener ?? line.component)] = Number(String(line.address).split(':').pop());
      } catch {
        // not a log line
      }
    }
  });
  const want = [...Object.keys(upstreams), 'metrics', 'admin'];
  for (const until = Date.now() + 60_000; want.some((w) => ports[w] === undefined); await sleep(50)) {
    if (Date.now() > until || child.exitCode !== null) throw new Error(`the sidecar did not come up: ${JSON.stringify(lines.slice(-5))}`);
  }
  return sidecar;
}

/** Opens `count` connections to `port`, 500 at a time; resolves with the open sockets. */
export async function openMany(port: number, count: number): Promise<Socket[]> {
  const sockets: Socket[] = [];
  for (let i = 0; i < count; i += 500) {
    await Promise.all(
      Array.from({ length: Math.min(500, count - i) }, () => new Promise<void>((resolve) => {
        const socket = connect(port, '127.0.0.1', () => resolve());
        socket.on('error', () => resolve());
        sockets.push(socket);
      })),
    );
  }
  return sockets;
}

/** One short connection: 64 bytes out, the same back, then FIN both ways. */
export function shortExchange(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const payload = randomBytes(64);
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => (socket.destroy(), resolve(false)), 5000);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => (clearTimeout(timer), resolve(false)));
    socket.on('end', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).equals(payload));
    });
    socket.end(payload);
  });
}

/** The largest round trip, in ms, of a ping-pong on `socket` (an echo) while `during` runs. */
export async function maxRoundTrip(socket: Socket, during: Promise<unknown>): Promise<number> {
  let done = false;
  void during.finally(() => (done = true));
  let worst = 0;
  while (!done) {
    const started = performance.now();
    await new Promise<void>((resolve) => {
      socket.once('data', () => resolve());
      socket.write('p');
    });
    worst = Math.max(worst, performance.now() - started);
    await sleep(1);
  }
  return worst;
}

/** Sends `bytes` through `port` (an echo), reads them back; whether the sha256 of both match. */
export function integrity(port: number, bytes: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const sent = createHash('sha256');
    const got = createHash('sha256');
    let received = 0;
    socket.on('data', (c: Buffer) => {
      got.update(c);
      received += c.length;
    });
    socket.on('error', () => resolve(false));
    socket.on('end', () => resolve(received === bytes && sent.digest('hex') === got.digest('hex')));
    let left = bytes;
    const pump = () => {
      while (left > 0) {
        const chunk = randomBytes(Math.min(left, 64 * 1024));
        left -= chunk.length;
        sent.update(chunk);
        if (!socket.write(chunk)) return void socket.once('drain', pump);
      }
      socket.end();
    };
    pump();
  });
}

/** A malformed or odd HTTP/1.1 request: mutations of a valid one (heads, chunked bodies). */
export function fuzzInput(random: () => number): Buffer {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
  const heads = ['GET / HTTP/1.1\r\nHost: a\r\n\r\n', 'POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n', 'POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello'];
  const text = Buffer.from(pick(heads));
  const mutations = 1 + Math.floor(random() * 4);
  let out = text;
  for (let i = 0; i < mutations; i++) {
    const at = Math.floor(random() * out.length);
    const kind = random();
    if (kind < 0.3) out = Buffer.concat([out.subarray(0, at), out.subarray(at + 1)]);
    else if (kind < 0.6) out = Buffer.concat([out.subarray(0, at), Buffer.from([Math.floor(random() * 256)]), out.subarray(at)]);
    else if (kind < 0.8) out = Buffer.concat([out.subarray(0, at), Buffer.from(pick(['\n', '\r', '\r\n', 'ffffffffffffff\r\n', ';x='.padEnd(5000, 'y'), '0x5\r\n', ' ', ':'])), out.subarray(at)]);
    else out = Buffer.concat([out, out.subarray(0, at)]);
  }
  return out;
}

/** Sends `input` and waits for an answer or a close: false when neither comes within `ms` (a hang). */
export function answered(port: number, input: Buffer, ms = 3000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const timer = setTimeout(() => (socket.destroy(), resolve(false)), ms);
    const done = () => (clearTimeout(timer), socket.destroy(), resolve(true));
    socket.on('data', done);
    socket.on('close', done);
    socket.on('error', done);
    socket.write(input);
  });
}

/** How a download ended: complete (all bytes, FIN), reset (broken: the client can tell), or truncated (FIN, bytes missing: the bad case). */
export function download(port: number, expected: number): Promise<'complete' | 'reset' | 'truncated'> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let received = 0;
    socket.on('data', (c: Buffer) => (received += c.length));
    socket.on('error', () => resolve('reset'));
    socket.on('end', () => resolve(received === expected ? 'complete' : 'truncated'));
  });
}
