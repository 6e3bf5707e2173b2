/** The client side of each workload. Every loop is bounded in count and time. */
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { Pool } from 'undici';
import WebSocket from 'ws';
import { ECHO_SERVICE } from './service.js';

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN;

/** One connection, `bytes` pushed as fast as it goes; MiB/s. */
export async function bulk(port: number, bytes: number): Promise<number> {
  const socket = connect(port, '127.0.0.1');
  await new Promise((r) => socket.once('connect', r));
  const block = Buffer.alloc(256 * 1024);
  let sent = 0;
  const started = performance.now();
  await new Promise<void>((resolve) => {
    const pump = () => {
      while (sent < bytes) {
        sent += block.length;
        if (!socket.write(block)) return void socket.once('drain', pump);
      }
      socket.end();
    };
    socket.on('close', () => resolve());
    socket.on('error', () => resolve());
    socket.resume();
    pump();
  });
  return bytes / ((performance.now() - started) / 1000) / 1024 ** 2;
}

export function roundTrip(socket: Socket, message: Buffer): Promise<number> {
  const started = performance.now();
  return new Promise((resolve) => {
    let got = 0;
    const onData = (chunk: Buffer) => {
      got += chunk.length;
      if (got < message.length) return;
      socket.off('data', onData);
      resolve((performance.now() - started) * 1000);
    };
    socket.on('data', onData);
    socket.write(message);
  });
}

/** 64-byte round trips on one connection; p50/p99 in microseconds. */
export async function echo(port: number, count: number): Promise<{ p50: number; p99: number }> {
  const socket = connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  await new Promise((r) => socket.once('connect', r));
  const message = Buffer.alloc(64, 1);
  const samples: number[] = [];
  for (let i = 0; i < count; i++) samples.push(await roundTrip(socket, message));
  socket.destroy();
  samples.sort((a, b) => a - b);
  return { p50: percentile(samples, 0.5), p99: percentile(samples, 0.99) };
}

/** HTTP/1.1 keep-alive, `connections` connections kept busy for `seconds`; req/s and latency (us). */
export async function httpKeepAlive(port: number, connections: number, seconds: number): Promise<{ rps: number; p50: number; p99: number }> {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections, pipelining: 1 });
  const samples: number[] = [];
  const end = performance.now() + seconds * 1000;
  let done = 0;
  const worker = async () => {
    while (performance.now() < end) {
      const started = performance.now();
      const res = await pool.request({ path: '/', method: 'GET' });
      await res.body.dump();
      samples.push((performance.now() - started) * 1000);
      done++;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: connections }, worker));
  const elapsed = (performance.now() - started) / 1000;
  await pool.close();
  samples.sort((a, b) => a - b);
  return { rps: done / elapsed, p50: percentile(samples, 0.5), p99: percentile(samples, 0.99) };
}

/** Requests (`GET /bench`) through `pool` from `workers` loops for `seconds`, then the pool is closed; requests/s. */
export async function poolRate(pool: Pool, workers: number, seconds: number): Promise<number> {
  let done = 0;
  const deadline = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (performance.now() < deadline) {
        const res = await pool.request({ path: '/bench', method: 'GET' });
        await res.body.dump();
        done++;
      }
    }),
  );
  await pool.close();
  return done / seconds;
}

/** A new TCP connection per HTTP request (8 at a time) for `seconds`; connections/s and how many. */
export async function newConnections(port: number, seconds: number): Promise<{ rate: number; count: number }> {
  const request = Buffer.from('GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n');
  const end = performance.now() + seconds * 1000;
  let done = 0;
  const worker = async () => {
    while (performance.now() < end) {
      await new Promise<void>((resolve) => {
        const s = connect(port, '127.0.0.1', () => s.write(request));
        s.on('data', () => {});
        s.on('close', () => resolve());
        s.on('error', () => resolve());
      });
      done++;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: 8 }, worker));
  return { rate: done / ((performance.now() - started) / 1000), count: done };
}

/** gRPC unary calls, 16 in flight, for `seconds`; calls/s. */
export async function grpcUnary(port: number, seconds: number): Promise<number> {
  const Client = grpc.makeGenericClientConstructor(ECHO_SERVICE, 'Echo');
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & { Unary: (m: Buffer, cb: (e: Error | null) => void) => void };
  const message = Buffer.alloc(64, 2);
  const call = () => new Promise<void>((resolve, reject) => client.Unary(message, (err) => (err ? reject(err) : resolve())));
  await call();
  const end = performance.now() + seconds * 1000;
  let done = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (performance.now() < end) {
        await call();
        done++;
      }
    }),
  );
  const rate = done / ((performance.now() - started) / 1000);
  client.close();
  return rate;
}

/** WebSocket echo with 32 messages in flight on one connection, for `seconds`; messages/s. */
export async function wsMessages(port: number, seconds: number): Promise<number> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  const message = Buffer.alloc(64, 3);
  const end = performance.now() + seconds * 1000;
  let sent = 0;
  let received = 0;
  const started = performance.now();
  await new Promise<void>((resolve) => {
    ws.on('message', () => {
      received++;
      if (performance.now() < end) {
        ws.send(message);
        sent++;
      } else if (received >= sent) resolve();
    });
    for (; sent < 32; sent++) ws.send(message);
  });
  const rate = received / ((performance.now() - started) / 1000);
  ws.terminate();
  return rate;
}

/** /proc/PID/stat's fields after the command name. */
const statFields = (pid: number) => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];

/** CPU time (user + system, every thread) a process has used so far, in seconds. */
export function cpuSeconds(pid: number): number {
  const fields = statFields(pid);
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Minor page faults of a process so far: pages the kernel had to map (and zero) for it. */
export function minorFaults(pid: number): number {
  return Number(statFields(pid)[7]);
}

export function rssKiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
}

/** RSS growth of the proxy process per idle connection (KiB), over `count` connections. */
export async function idleMemory(pid: number, port: number, count: number): Promise<number> {
  const sockets: Socket[] = [];
  const open = async (n: number) => {
    for (let i = 0; i < n; i += 200) {
      await Promise.all(
        Array.from({ length: Math.min(200, n - i) }, () => new Promise<void>((resolve) => {
          const s = connect(port, '127.0.0.1', () => resolve());
          s.on('error', () => resolve());
          sockets.push(s);
        })),
      );
    }
  };
  await open(100);
  await new Promise((r) => setTimeout(r, 500));
  const before = rssKiB(pid);
  await open(count);
  await new Promise((r) => setTimeout(r, 1500));
  const after = rssKiB(pid);
  for (const s of sockets) s.destroy();
  await new Promise((r) => setTimeout(r, 500));
  return (after - before) / count;
}
