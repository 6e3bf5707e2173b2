import { createSocket, type Socket } from 'node:dgram';
import type { Test } from 'tap';
import { sleep } from './net.js';

/** A UDP echo server on 127.0.0.1 (port 0), closed at teardown. */
export async function udpEcho(t: Test): Promise<{ port: number; received: () => number }> {
  const server = createSocket('udp4');
  let received = 0;
  server.on('message', (m, rinfo) => {
    received++;
    server.send(m, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => server.bind(0, '127.0.0.1', () => resolve()));
  t.teardown(() => server.close());
  return { port: server.address().port, received: () => received };
}

/** What came back of a numbered run: sequence numbers in arrival order, each with its round trip. */
export interface Run {
  seqs: number[];
  rtts: number[];
  /** Arrivals whose number is below one seen before: order changes. */
  reordered: number;
  /** Arrivals of a number seen before. */
  duplicates: number;
  socket: Socket;
}

/**
 * Sends `count` numbered datagrams of `size` bytes to port (bursts of `burst`, 1 ms apart, so
 * the kernel's buffers never drop what the test counts), and collects what comes back until
 * nothing came for `quietMs` (at most `maxMs`).
 */
export async function numberedRun(t: Test, port: number, count: number, options: { size?: number; burst?: number; quietMs?: number; maxMs?: number } = {}): Promise<Run> {
  const { size = 32, burst = 20, quietMs = 300, maxMs = 30_000 } = options;
  const socket = createSocket('udp4');
  t.teardown(() => socket.close());
  const sentAt = new Float64Array(count);
  const seen = new Set<number>();
  const run: Run = { seqs: [], rtts: [], reordered: 0, duplicates: 0, socket };
  let highest = -1;
  let last = performance.now();
  socket.on('message', (m) => {
    const seq = m.readUInt32BE(0);
    last = performance.now();
    run.seqs.push(seq);
    run.rtts.push(last - (sentAt[seq] ?? last));
    if (seen.has(seq)) run.duplicates++;
    else if (seq < highest) run.reordered++;
    seen.add(seq);
    highest = Math.max(highest, seq);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  const started = performance.now();
  for (let seq = 0; seq < count && performance.now() - started < maxMs; seq++) {
    const datagram = Buffer.alloc(size);
    datagram.writeUInt32BE(seq, 0);
    sentAt[seq] = performance.now();
    socket.send(datagram, port, '127.0.0.1');
    if (seq % burst === burst - 1) await sleep(1);
  }
  last = performance.now();
  while (performance.now() - last < quietMs && performance.now() - started < maxMs) await sleep(20);
  return run;
}

/** Whether `k` of `n` is within `z` standard deviations of the binomial's mean n·p. */
export function withinBinomial(k: number, n: number, p: number, z = 4.5): boolean {
  const sigma = Math.sqrt(n * p * (1 - p));
  return Math.abs(k - n * p) <= z * sigma;
}
