/**
 * The origins every path proxies to, in their own process: a TCP echo, a TCP sink (bulk), a
 * Node HTTP server, a gRPC unary service and a WebSocket echo. Prints their ports as JSON.
 */
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
const ports = { echo: await listen(echo), sink: await listen(sink), http: await listen(http), ws: await listen(wsHttp), grpc: grpcPort };
process.stdout.write(`${JSON.stringify(ports)}\n`);
