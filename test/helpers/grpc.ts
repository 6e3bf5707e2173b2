import * as grpc from '@grpc/grpc-js';
import type { Test } from 'tap';

const identity = (b: Buffer) => b;

/** A unary method /test.Echo/Say (and /test.Echo/Other) with raw Buffer messages: no .proto needed. */
export const echoService: grpc.ServiceDefinition = {
  Say: { path: '/test.Echo/Say', requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity },
  Other: { path: '/test.Echo/Other', requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity },
};

export type EchoClient = grpc.Client & {
  Say(req: Buffer, cb: (err: grpc.ServiceError | null, res?: Buffer) => void): grpc.ClientUnaryCall;
  Other(req: Buffer, cb: (err: grpc.ServiceError | null, res?: Buffer) => void): grpc.ClientUnaryCall;
};

/** A gRPC server on 127.0.0.1:0 whose methods echo the request back; shut down at teardown. */
export async function grpcUpstream(t: Test): Promise<number> {
  const server = new grpc.Server();
  const echo: grpc.handleUnaryCall<Buffer, Buffer> = (call, cb) => cb(null, Buffer.concat([Buffer.from('echo:'), call.request]));
  server.addService(echoService, { Say: echo, Other: echo });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  t.teardown(() => void server.forceShutdown());
  return port;
}

/** A client of the echo service at 127.0.0.1:port; closed at teardown. */
export function echoClient(t: Test, port: number): EchoClient {
  const Client = grpc.makeGenericClientConstructor(echoService, 'Echo');
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as EchoClient;
  t.teardown(() => client.close());
  return client;
}

/** One unary call; resolves with the response or the error's code and details. */
export function call(client: EchoClient, method: 'Say' | 'Other', payload: string): Promise<{ ok: Buffer } | { code: number; details: string }> {
  return new Promise((resolve) => {
    client[method](Buffer.from(payload), (err, res) => resolve(err ? { code: err.code, details: err.details } : { ok: res as Buffer }));
  });
}
