import { createHash } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Test } from 'tap';

/** Starts a TCP server on 127.0.0.1:0; closed (with its sockets) at the test's teardown. */
export async function tcpServer(t: Test, onSocket: (socket: Socket) => void, options: { allowHalfOpen?: boolean } = {}): Promise<{ server: Server; port: number }> {
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: options.allowHalfOpen ?? false }, (socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.once('close', () => sockets.delete(socket));
    onSocket(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { server, port: (server.address() as AddressInfo).port };
}

/** An echo server: every byte comes back. */
export function echoServer(t: Test): Promise<{ server: Server; port: number }> {
  return tcpServer(t, (socket) => socket.pipe(socket), { allowHalfOpen: true });
}

/** Connects to 127.0.0.1:port (optionally from `localAddress`); destroyed at teardown. */
export function dial(t: Test, port: number, localAddress?: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ...(localAddress ? { localAddress } : {}) });
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
    t.teardown(() => void socket.destroy());
  });
}

/** What a client saw of a connection: bytes received, how it ended, when. */
export interface Outcome {
  data: Buffer;
  /** 'end' (FIN), or the error code (ECONNRESET...). */
  ending: string;
  ms: number;
}

/** Reads until the socket ends or fails. */
export function collect(socket: Socket): Promise<Outcome> {
  const started = performance.now();
  const chunks: Buffer[] = [];
  return new Promise((resolve) => {
    let done = false;
    const finish = (ending: string) => {
      if (done) return;
      done = true;
      resolve({ data: Buffer.concat(chunks), ending, ms: performance.now() - started });
    };
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('end', () => finish('end'));
    socket.once('error', (err: NodeJS.ErrnoException) => finish(err.code ?? err.message));
    socket.once('close', () => finish('close'));
  });
}

/** Dials, writes `payload` (then FIN unless keepOpen), and collects the reply. */
export async function exchange(t: Test, port: number, payload: Buffer | string = '', options: { keepOpen?: boolean; localAddress?: string } = {}): Promise<Outcome> {
  let socket: Socket;
  try {
    socket = await dial(t, port, options.localAddress);
  } catch (err) {
    return { data: Buffer.alloc(0), ending: (err as NodeJS.ErrnoException).code ?? 'error', ms: 0 };
  }
  const outcome = collect(socket);
  socket.write(payload);
  if (!options.keepOpen) socket.end();
  return outcome;
}

/** Round trip of `size` bytes on an open echo connection, in ms. */
export function roundTrip(socket: Socket, size = 64): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    let got = 0;
    const onData = (chunk: Buffer) => {
      got += chunk.length;
      if (got >= size) {
        socket.off('data', onData);
        socket.off('error', reject);
        resolve(performance.now() - started);
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write(Buffer.alloc(size, 'x'));
  });
}

export const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` every 10 ms until it is true or `ms` passes; resolves whether it became true. */
export async function waitFor(check: () => boolean | Promise<boolean>, ms = 2000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) return false;
    await sleep(10);
  }
  return true;
}
