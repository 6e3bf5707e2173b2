/**
 * The origins every path proxies to, in their own process: a TCP echo, a TCP sink (bulk), a
 * Node HTTP server, a gRPC unary service, a WebSocket echo, and (when HAProxy is installed) a
 * fast non-Node HTTP origin: HAProxy's own `http-request return` responder. Prints their ports
 * as JSON; `fastHttp` is 0 when HAProxy is missing.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { WebSocketServer } from 'ws';
import { ECHO_SERVICE } from './service.js';


const listen = (server: { listen: (port: number, host: string, cb: () => void) => unknown; address: () => unknown }) =>
  new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));

const echo = createServer({ noDelay: true }, (s) => {
  s.on('error', () => {});
  s.pipe(s);
});
const sink = createServer((s) => {
  s.on('error', () => {});
  s.resume();
  s.on('end', () => s.end());
});
const body = Buffer.from('hello from the bench origin\n');
const http = createHttpServer((_req, res) => res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length }).end(body));
http.keepAliveTimeout = 60_000;
const wsHttp = createHttpServer();
new WebSocketServer({ server: wsHttp }).on('connection', (ws) => ws.on('message', (data, binary) => ws.send(data, { binary })));

const grpcServer = new grpc.Server();
grpcServer.addService(
  ECHO_SERVICE,
  { Unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, call.request) },
);
const grpcPort = await new Promise<number>((resolve, reject) =>
  grpcServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
);
async function fastOrigin(): Promise<number> {
  if (spawnSync('haproxy', ['-v']).status !== 0) return 0;
  const probe = createServer();
  const port = await listen(probe);
  await new Promise((r) => probe.close(r));
  const file = join(mkdtempSync(join(tmpdir(), 'faultline-origin-')), 'origin.cfg');
  writeFileSync(file, `global\n  maxconn 9000\n  nbthread 1\ndefaults\n  mode http\n  timeout client 60s\n  timeout server 60s\n  timeout connect 5s\nfrontend origin\n  bind 127.0.0.1:${port}\n  http-request return status 200 content-type text/plain string "hello from the fast origin"\n`);
  const child = spawn('haproxy', ['-f', file, '-db'], { stdio: 'ignore' });
  process.on('exit', () => child.kill('SIGKILL'));
  process.on('SIGTERM', () => process.exit(0));
  return port;
}

const ports = { echo: await listen(echo), sink: await listen(sink), http: await listen(http), ws: await listen(wsHttp), grpc: grpcPort, fastHttp: await fastOrigin() };
process.stdout.write(`${JSON.stringify(ports)}\n`);
