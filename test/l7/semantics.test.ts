import { execFile } from 'node:child_process';
import { connect } from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import t, { type Test } from 'tap';
import { request } from 'undici';
import { h2Upstream, httpUpstream } from '../helpers/http.js';
import { startSidecar } from '../helpers/sidecar.js';

/**
 * Every L7 fault type, from one table of cases, through every client: HTTP/1.1 (undici,
 * curl), HTTP/2 (curl --http2-prior-knowledge, node:http2) and gRPC (@grpc/grpc-js). A case
 * says what the client sees in protocol-neutral terms; each client turns what it got into
 * those terms. The README's semantics table says the same.
 */

/** What a client saw: the upstream's answer, faultline's answer (HTTP status; gRPC code), or a reset. */
type Seen = { kind: 'passed'; ms: number; bytes: number } | { kind: 'answered'; status: number; ms: number } | { kind: 'reset'; ms: number };

interface Case {
  name: string;
  fault: string;
  /** Response body size asked of the upstream. */
  size?: number;
  /** Sent twice; `expect` is for the second (the first passes). */
  twice?: boolean;
  expect: { kind: 'passed' | 'reset' } | { kind: 'answered'; status: number; grpc: number };
  /** Least time the exchange takes, and most it may take beyond an unfaulted request sent just before (ms). */
  minMs?: number;
  maxMs?: number;
}

const CASES: Case[] = [
  { name: 'abort', fault: '{type: http_abort, status: 503}', expect: { kind: 'answered', status: 503, grpc: 14 }, maxMs: 250 },
  { name: 'abortGrpcStatus', fault: '{type: http_abort, status: 429, grpcStatus: 8}', expect: { kind: 'answered', status: 429, grpc: 8 }, maxMs: 250 },
  { name: 'delay', fault: '{type: http_delay, delay: 150ms}', expect: { kind: 'passed' }, minMs: 145, maxMs: 500 },
  { name: 'delayResponse', fault: '{type: http_delay, delay: 150ms, phase: response}', expect: { kind: 'passed' }, minMs: 145, maxMs: 500 },
  { name: 'throttle', fault: '{type: http_throttle, rate: 64KiB/s}', size: 48 * 1024, expect: { kind: 'passed' }, minMs: 600, maxMs: 1200 },
  { name: 'timeout', fault: '{type: http_timeout, timeout: 200ms}', expect: { kind: 'answered', status: 504, grpc: 4 }, minMs: 195, maxMs: 550 },
  { name: 'reset', fault: '{type: http_reset}', expect: { kind: 'reset' }, maxMs: 250 },
  { name: 'rateLimit', fault: '{type: rate_limit, rate: 0.001, burst: 1}', twice: true, expect: { kind: 'answered', status: 429, grpc: 8 }, maxMs: 250 },
];

/** A rule per case: HTTP requests by path, gRPC calls by method. */
const rules = (match: (c: Case) => string) => CASES.map((c) => `    - name: case-${c.name}\n      match: {listener: up, ${match(c)}}\n      faults: [${c.fault}]`).join('\n');
const byPath = (c: Case) => `http: {paths: ["/${c.name}"]}`;

type Client = (t: Test, c: Case) => Promise<Seen>;

function curl(port: number, h2: boolean): Client {
  return (_t, c) =>
    new Promise((resolve) => {
      // curl's own clock (time_total): a busy machine's process start-up does not count.
      const args = ['-s', '-o', '/dev/null', '-w', '%{http_code} %{size_download} %{time_total}', '--max-time', '5', ...(h2 ? ['--http2-prior-knowledge'] : ['--http1.1'])];
      execFile('curl', [...args, `http://127.0.0.1:${port}/${c.name}?size=${c.size ?? 0}`], (err, out) => {
        const [code, bytes, seconds] = out.split(' ').map(Number) as [number, number, number];
        const ms = seconds * 1000;
        if (err || code === 0) return resolve({ kind: 'reset', ms });
        resolve(code === 200 ? { kind: 'passed', ms, bytes } : { kind: 'answered', status: code, ms });
      });
    });
}

function undici(port: number): Client {
  return async (_t, c) => {
    const started = performance.now();
    try {
      const res = await request(`http://127.0.0.1:${port}/${c.name}?size=${c.size ?? 0}`);
      const bytes = (await res.body.arrayBuffer()).byteLength;
      const ms = performance.now() - started;
      return res.statusCode === 200 ? { kind: 'passed', ms, bytes } : { kind: 'answered', status: res.statusCode, ms };
    } catch {
      return { kind: 'reset', ms: performance.now() - started };
    }
  };
}

function nodeHttp2(t: Test, port: number): Client {
  const session = connect(`http://127.0.0.1:${port}`);
  session.on('error', () => {});
  t.teardown(() => session.close());
  return (_t, c) =>
    new Promise((resolve) => {
      const started = performance.now();
      const req = session.request({ ':path': `/${c.name}?size=${c.size ?? 0}` });
      let status = 0;
      let bytes = 0;
      req.on('response', (h) => (status = Number(h[':status'])));
      req.on('data', (d: Buffer) => (bytes += d.length));
      req.on('end', () => {
        const ms = performance.now() - started;
        resolve(status === 200 ? { kind: 'passed', ms, bytes } : { kind: 'answered', status, ms });
      });
      req.on('error', () => resolve({ kind: 'reset', ms: performance.now() - started }));
      req.end();
    });
}

const identity = (b: Buffer) => b;
/** A unary method per case (/table.Cases/<name>), and `pass` that no rule takes; raw Buffer messages. */
const METHODS = [...CASES.map((c) => c.name), 'pass'];
const service: grpc.ServiceDefinition = Object.fromEntries(
  METHODS.map((name) => [name, { path: `/table.Cases/${name}`, requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity }]),
);

async function grpcUpstream(t: Test): Promise<number> {
  const server = new grpc.Server();
  const echo: grpc.handleUnaryCall<Buffer, Buffer> = (call, cb) => cb(null, call.request);
  server.addService(service, Object.fromEntries(METHODS.map((name) => [name, echo])));
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  t.teardown(() => void server.forceShutdown());
  return port;
}

function grpcClient(t: Test, port: number): Client {
  const Client = grpc.makeGenericClientConstructor(service, 'Cases');
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as Record<string, (req: Buffer, cb: (err: grpc.ServiceError | null, res?: Buffer) => void) => void>;
  t.teardown(() => (client as unknown as grpc.Client).close());
  return (_t, c) =>
    new Promise((resolve) => {
      const started = performance.now();
      (client[c.name] as (req: Buffer, cb: (err: grpc.ServiceError | null, res?: Buffer) => void) => void)(Buffer.alloc(c.size ?? 1, 1), (err, res) => {
        const ms = performance.now() - started;
        // An RST_STREAM(INTERNAL_ERROR) is INTERNAL to grpc-js; no case answers with it.
        if (err?.code === grpc.status.INTERNAL) return resolve({ kind: 'reset', ms });
        resolve(err ? { kind: 'answered', status: err.code, ms } : { kind: 'passed', ms, bytes: res?.length ?? 0 });
      });
    });
}

/** Runs every case through one client against its own sidecar (rate_limit buckets are per rule). */
async function runTable(t: Test, label: string, client: Client, grpcCodes: boolean): Promise<void> {
  for (const c of CASES) {
    if (c.twice) {
      const first = await client(t, c);
      t.equal(first.kind, 'passed', `${label} ${c.name}: the first request passes`);
    }
    const base = await client(t, { name: 'pass', fault: '', expect: { kind: 'passed' } });
    const seen = await client(t, c);
    const where = `${label} ${c.name}`;
    if (c.expect.kind === 'answered') {
      t.same({ kind: seen.kind, status: 'status' in seen ? seen.status : undefined }, { kind: 'answered', status: grpcCodes ? c.expect.grpc : c.expect.status }, `${where}: answered by faultline`);
    } else {
      t.equal(seen.kind, c.expect.kind, `${where}: ${c.expect.kind}`);
    }
    if (seen.kind === 'passed' && c.size) t.ok(seen.bytes >= c.size, `${where}: the whole body (${seen.bytes} bytes)`);
    if (c.minMs !== undefined) t.ok(seen.ms >= c.minMs, `${where}: took ${seen.ms.toFixed(0)} ms (at least ${c.minMs})`);
    // The machine may be busy: the bound is on the time beyond an unfaulted exchange of the same client.
    if (c.maxMs !== undefined) t.ok(seen.ms - base.ms <= c.maxMs, `${where}: took ${seen.ms.toFixed(0)} ms, ${(seen.ms - base.ms).toFixed(0)} beyond an unfaulted one (at most ${c.maxMs})`);
  }
}

t.test('HTTP/1.1 through undici and curl', async (t) => {
  const { port: up } = await httpUpstream(t);
  for (const [label, make] of [['undici', undici], ['curl', (p: number) => curl(p, false)]] as const) {
    const { port } = await startSidecar(t, up, rules(byPath));
    await runTable(t, label, make(port), false);
  }
});

t.test('HTTP/2 through node:http2 and curl --http2-prior-knowledge', async (t) => {
  const { port: up } = await h2Upstream(t);
  for (const [label, make] of [['node:http2', (p: number) => nodeHttp2(t, p)], ['curl h2c', (p: number) => curl(p, true)]] as const) {
    const { port } = await startSidecar(t, up, rules(byPath));
    await runTable(t, label, make(port), false);
  }
});

t.test('gRPC through @grpc/grpc-js', async (t) => {
  const up = await grpcUpstream(t);
  const { port } = await startSidecar(t, up, rules((c) => `grpc: {methods: ["/table.Cases/${c.name}"]}`));
  await runTable(t, 'grpc-js', grpcClient(t, port), true);
});
