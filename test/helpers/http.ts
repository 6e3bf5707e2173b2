import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect as connectH2, createServer as createH2Server, type ClientHttp2Session, type Http2Server, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo, Server as NetServer, Socket } from 'node:net';
import type { Test } from 'tap';

/**
 * An HTTP/1.1 upstream on 127.0.0.1:0 answering `handler` (default: 200 with the method and
 * path as text, and a deterministic body of ?size= bytes). Closed at teardown.
 */
export async function httpUpstream(t: Test, handler?: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; port: number }> {
  const server = createServer({ keepAliveTimeout: 30_000 }, handler ?? defaultHandler);
  return { server, port: await listenTracked(t, server) };
}

/**
 * Listens on 127.0.0.1:0 and returns the port; at teardown every socket the server accepted
 * (seen on `event`: `secureConnection` for TLS servers) is destroyed and the server closed.
 */
export async function listenTracked(t: Test, server: NetServer, event = 'connection'): Promise<number> {
  const sockets = new Set<Socket>();
  server.on(event, (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return (server.address() as AddressInfo).port;
}

/** A body of `size` bytes that differs per path: what byte-identity checks compare. */
export function bodyFor(path: string, size: number): Buffer {
  const seed = Buffer.from(`${path}|`);
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i++) out[i] = (seed[i % seed.length] as number) ^ (i & 0xff);
  return out;
}

function defaultHandler(req: IncomingMessage, res: ServerResponse): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const url = new URL(req.url ?? '/', 'http://x');
    const size = Number(url.searchParams.get('size') ?? 0);
    const echo = Buffer.concat(chunks);
    const body = size > 0 ? bodyFor(url.pathname, size) : Buffer.from(`${req.method} ${url.pathname} ${echo.length}`);
    res.setHeader('x-upstream', 'yes');
    if (url.searchParams.get('chunked')) {
      res.write(body.subarray(0, body.length >> 1));
      res.end(body.subarray(body.length >> 1));
    } else {
      res.setHeader('content-length', body.length);
      res.end(req.method === 'HEAD' ? undefined : body);
    }
  });
}

/**
 * An h2c upstream on 127.0.0.1:0: /PATH?size=N answers N deterministic bytes (bodyFor), any
 * other request its method and path. Its sessions are listed (a node:http2 server never
 * closes one first) and destroyed at teardown.
 */
export async function h2Upstream(t: Test): Promise<{ port: number; sessions: Set<ServerHttp2Session> }> {
  const sessions = new Set<ServerHttp2Session>();
  const server: Http2Server = createH2Server();
  server.on('session', (s) => {
    sessions.add(s);
    s.once('close', () => sessions.delete(s));
  });
  server.on('stream', (stream: ServerHttp2Stream, headers) => {
    const url = new URL(String(headers[':path']), 'http://x');
    const size = Number(url.searchParams.get('size') ?? 0);
    stream.respond({ ':status': 200, 'x-upstream': 'yes' });
    stream.end(size ? bodyFor(url.pathname, size) : `${headers[':method']} ${url.pathname}`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const s of sessions) s.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { port: (server.address() as AddressInfo).port, sessions };
}

/**
 * An HTTP/2 client as well-behaved ones are (grpc-js, browsers): one session reused for every
 * request, replaced by a new one when the server sends GOAWAY or the session closes.
 */
export function h2Client(t: Test, port: number): { get(path: string): Promise<number>; sessions: () => number } {
  let session: ClientHttp2Session | undefined;
  let opened = 0;
  const current = () => {
    if (session && !session.closed && !session.destroyed) return session;
    const s = connectH2(`http://127.0.0.1:${port}`);
    opened++;
    s.on('error', () => {});
    s.once('goaway', () => {
      if (session === s) session = undefined;
      s.close();
    });
    s.once('close', () => session === s && (session = undefined));
    return (session = s);
  };
  t.teardown(() => session?.close());
  return {
    sessions: () => opened,
    get: (path) =>
      new Promise((resolve, reject) => {
        const req = current().request({ ':path': path });
        let status = 0;
        req.on('response', (h) => (status = Number(h[':status'])));
        req.on('end', () => resolve(status));
        req.on('error', reject);
        req.resume();
        req.end();
      }),
  };
}
