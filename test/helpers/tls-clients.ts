import { execFile } from 'node:child_process';
import { request as httpsRequest } from 'node:https';
import { connect as connectH2 } from 'node:http2';
import { connect as tlsConnect } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { Agent, request } from 'undici';
import { echoService, type EchoClient } from './grpc.js';

/**
 * Real TLS clients against 127.0.0.1:port asking for server name `name` and trusting `ca`
 * (PEM text and file): each resolves with what the client reports, `ok` when it got through,
 * else its error code and message (or, for the command-line tools, their error line).
 */
export interface Target {
  port: number;
  name: string;
  ca: string;
  caFile: string;
}

const describe = (err: NodeJS.ErrnoException) => `${err.code ?? 'ERROR'}: ${err.message}`;

export function nodeTls({ port, name, ca }: Target): Promise<string> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, servername: name, ca }, () => {
      resolve('ok');
      socket.destroy();
    });
    socket.once('error', (err) => resolve(describe(err)));
    socket.once('close', () => resolve('closed'));
  });
}

export function nodeHttps({ port, name, ca }: Target): Promise<string> {
  return new Promise((resolve) => {
    const req = httpsRequest({ host: '127.0.0.1', port, servername: name, ca, path: '/', agent: false }, (res) => {
      res.resume();
      resolve('ok');
    });
    req.once('error', (err) => resolve(describe(err)));
    req.end();
  });
}

export function nodeHttp2({ port, name, ca }: Target): Promise<string> {
  return new Promise((resolve) => {
    const session = connectH2(`https://127.0.0.1:${port}`, { servername: name, ca });
    session.once('error', (err) => {
      resolve(describe(err));
      session.destroy();
    });
    session.once('connect', () => {
      resolve('ok');
      session.destroy();
    });
  });
}

export async function undici({ port, name, ca }: Target): Promise<string> {
  const dispatcher = new Agent({ connect: { ca, servername: name } });
  try {
    const response = await request(`https://127.0.0.1:${port}/`, { dispatcher });
    await response.body.text();
    return 'ok';
  } catch (err) {
    return describe(err as NodeJS.ErrnoException);
  } finally {
    await dispatcher.destroy();
  }
}

/** grpc-js over TLS: the call's status code and details. */
export function grpcTls({ port, name, ca }: Target): Promise<string> {
  const Client = grpc.makeGenericClientConstructor(echoService, 'Echo');
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createSsl(Buffer.from(ca)), { 'grpc.ssl_target_name_override': name, 'grpc.default_authority': name }) as unknown as EchoClient;
  return new Promise((resolve) => {
    const say = client.Say as unknown as (req: Buffer, metadata: grpc.Metadata, options: grpc.CallOptions, cb: (err: grpc.ServiceError | null) => void) => void;
    say.call(client, Buffer.from('x'), new grpc.Metadata(), { deadline: Date.now() + 5000 }, (err) => {
      client.close();
      resolve(err ? `${err.code} ${err.details}` : 'ok');
    });
  });
}

/** curl's one-line error (its first stderr line), or ok. */
export function curl({ port, name, caFile }: Target): Promise<string> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '-o', '/dev/null', '--max-time', '5', '--cacert', caFile, '--resolve', `${name}:${port}:127.0.0.1`, `https://${name}:${port}/`], (err, _out, stderr) => {
      resolve(err ? (stderr.split('\n')[0] ?? '').trim() : 'ok');
    });
  });
}

/** openssl s_client's verification verdict and error lines, joined with " | ". */
export function opensslClient({ port, name, caFile }: Target): Promise<string> {
  return new Promise((resolve) => {
    const child = execFile(
      'openssl',
      ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', name, '-CAfile', caFile, '-verify_return_error', '-verify_hostname', name],
      { timeout: 5000 },
      (_err, stdout, stderr) => resolve(`${stdout}\n${stderr}`.split('\n').filter((l) => /Verification error|Verify return code|:error:/.test(l)).join(' | ')),
    );
    child.stdin?.end();
  });
}
