import { pino } from 'pino';
import t from 'tap';
import { Agent, request } from 'undici';
import { FaultEngine } from '../../src/engine/engine.js';
import { classify } from '../../src/l7/detect.js';
import { BodyFramer, headEnd, parseRequestHead, parseResponseHead } from '../../src/l7/http1-head.js';
import type { L7Host } from '../../src/l7/host.js';
import { Http1RequestFramer } from '../../src/l7/http1-request.js';
import { Http1ResponseFramer } from '../../src/l7/http1-response.js';
import { compilePolicy } from '../../src/policy/compile.js';
import { collect, dial } from '../helpers/net.js';
import { httpUpstream } from '../helpers/http.js';
import { policyText, startSidecar } from '../helpers/sidecar.js';

/** A seeded generator, so that a failure can be replayed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 2 ** 32);
}

const SEEDS = [
  'GET / HTTP/1.1\r\nHost: x\r\n\r\n',
  'POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  'PUT /b HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc',
  'GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
  'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
  '\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00',
];

/** Random bytes, or a valid start mutated (bytes flipped, cut, repeated). */
function input(random: () => number): Buffer {
  const pick = random();
  if (pick < 0.3) return Buffer.from(Array.from({ length: Math.floor(random() * 64) }, () => Math.floor(random() * 256)));
  const seed = Buffer.from(SEEDS[Math.floor(random() * SEEDS.length)] as string, 'latin1');
  const out = Buffer.from(Buffer.concat([seed, seed]).subarray(0, Math.floor(random() * seed.length * 2) + 1));
  for (let i = 0, n = Math.floor(random() * 4); i < n; i++) out[Math.floor(random() * out.length)] = Math.floor(random() * 256);
  return out;
}

t.test('10,000 random first-byte sequences: detection and framing never throw an unexpected error or hang', async (t) => {
  const random = prng(20261122);
  const policy = compilePolicy(policyText({ listeners: ['{name: up, listen: "127.0.0.1:0", upstream: "127.0.0.1:1"}'], rules: `    - name: l7
      match: {listener: up, http: {paths: ["/a*"]}}
      faults: [{type: http_abort, status: 503, probability: 0.5}]` }), 'fuzz.yaml');
  const engine = new FaultEngine(Date.now, random);
  engine.setPolicy(policy);
  const log = pino({ level: 'silent' });
  let unexpected = 0;
  let finished = 0;
  const started = performance.now();
  for (let i = 0; i < 10_000; i++) {
    const buf = input(random);
    classify(buf);
    const end = headEnd(buf);
    for (const parse of [() => parseRequestHead(buf.subarray(0, end)), () => parseResponseHead(buf.subarray(0, end), 'GET'), () => new BodyFramer('chunked', 0).consume(buf)]) {
      try {
        if (end > 0 || parse !== undefined) parse();
      } catch (err) {
        if ((err as Error).constructor.name !== 'HeadError') unexpected++;
      }
    }
    const state = engine.open({ listener: 'up', direction: 'outbound', source: { address: '127.0.0.1', port: 1 }, destination: { address: '127.0.0.1', port: 1 } });
    const ended = new AbortController();
    const host: L7Host = { id: 'f', engine, state, log, signal: ended.signal, countFault: () => {}, countRequest: () => {}, close: () => {}, reset: () => unexpected++ };
    const response = new Http1ResponseFramer(host);
    const requestSide = new Http1RequestFramer(host, response);
    requestSide.on('error', () => unexpected++).resume();
    response.on('error', () => unexpected++).resume();
    const done = new Promise<void>((resolve) => requestSide.write(buf, () => resolve()));
    const settled = await Promise.race([done.then(() => true), new Promise<boolean>((r) => setImmediate(() => r(false)))]);
    // Only an Upgrade waiting for its 101 may hold its bytes; everything else settles at once.
    if (settled || /upgrade/i.test(buf.toString('latin1'))) finished++;
    response.write(input(random));
    requestSide.destroy();
    response.destroy();
    ended.abort();
  }
  const ms = performance.now() - started;
  t.equal(unexpected, 0, 'no unexpected error');
  t.equal(finished, 10_000, 'every input settled (no hang)');
  t.ok(ms < 15_000, `10,000 inputs in ${ms.toFixed(0)} ms`);
});

t.test('300 random first bytes over real connections: each gets an answer or a close; the sidecar lives', async (t) => {
  const { port: up } = await httpUpstream(t);
  const { port } = await startSidecar(t, up, `    - name: l7
      match: {listener: up, http: {paths: ["/a*"]}}
      faults: [{type: http_abort, status: 503}]`);
  const random = prng(7);
  const started = performance.now();
  for (let batch = 0; batch < 30; batch++) {
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        const socket = await dial(t, port);
        const outcome = collect(socket);
        const bytes = input(random);
        const timer = setTimeout(() => socket.destroy(), 3000);
        socket.end(bytes);
        await outcome;
        clearTimeout(timer);
      }),
    );
  }
  t.ok(performance.now() - started < 20_000, 'bounded');
  const agent = new Agent();
  t.teardown(() => agent.close());
  const res = await request(`http://127.0.0.1:${port}/fine`, { dispatcher: agent });
  t.equal(await res.body.text(), 'GET /fine 0', 'the sidecar still serves');
});
