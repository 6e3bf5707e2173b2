import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import * as dnsPacket from 'dns-packet';
import t from 'tap';
import { pino } from 'pino';
import type { DnsProxy } from '../../src/dns/proxy.js';
import { Metrics } from '../../src/metrics.js';
import { Sidecar } from '../../src/sidecar.js';
import { canUseDnsTools, resolverFor, startDnsmasq } from '../helpers/dns.js';
import { sleep } from '../helpers/net.js';
import { policyText } from '../helpers/sidecar.js';

const skip = canUseDnsTools();

/** A seeded generator (mulberry32): a failing run can be replayed. */
function seeded(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let r = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
  };
}

/** A fuzzed message: random bytes, a valid query with bytes flipped, cut short or with lying counts. */
function fuzzed(random: () => number, i: number): Buffer {
  const valid = dnsPacket.encode({ type: 'query', id: i & 0xffff, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: random() < 0.5 ? 'A' : 'AAAA', name: `n${i}.example.test` }] });
  const kind = Math.floor(random() * 5);
  if (kind === 0) return Buffer.from(Array.from({ length: Math.floor(random() * 600) }, () => Math.floor(random() * 256)));
  if (kind === 1) return valid.subarray(0, Math.floor(random() * valid.length));
  const copy = Buffer.from(valid);
  if (kind === 2) for (let n = 0; n < 1 + random() * 6; n++) copy[Math.floor(random() * copy.length)] = Math.floor(random() * 256);
  // A name compression pointer loop, and counts far beyond the bytes.
  if (kind === 3) return Buffer.concat([copy.subarray(0, 12), Buffer.from([0xc0, 0x0c, 0xc0, 0x0c])]);
  if (kind === 4) copy.writeUInt16BE(0xffff, 4 + 2 * Math.floor(random() * 4));
  return copy;
}

t.test('10,000 fuzzed DNS messages over UDP and TCP: the proxy answers FORMERR or drops, and keeps working', { skip }, async (t) => {
  const upstream = await startDnsmasq(t);
  const sidecar = new Sidecar({ log: pino({ level: 'silent' }), metrics: new Metrics({ processMetrics: false }) });
  await sidecar.start();
  const listeners = [`{name: dns, listen: "127.0.0.1:0", upstream: "127.0.0.1:${upstream.port}", protocol: dns}`];
  t.ok(await sidecar.reload(policyText({ listeners, rules: `    - name: some
      match: {dns: {names: ["n1*.example.test"]}}
      faults: [{type: dns_error, rcode: SERVFAIL, probability: 0.5}, {type: dns_delay, delay: 1ms}]` })));
  t.teardown(() => sidecar.drain(0));
  const port = sidecar.address('dns').port;
  const random = seeded(17);
  const client = createSocket('udp4');
  let answers = 0;
  let formerr = 0;
  client.on('message', (m) => {
    answers++;
    try {
      if ((dnsPacket.decode(m) as { rcode?: string }).rcode === 'FORMERR') formerr++;
    } catch {
      t.fail('the proxy sent something dns-packet cannot decode');
    }
  });
  await new Promise<void>((resolve) => client.bind(0, '127.0.0.1', () => resolve()));
  t.teardown(() => client.close());
  const deadline = Date.now() + 40_000;
  const N = 9000;
  for (let i = 0; i < N && Date.now() < deadline; i++) {
    client.send(fuzzed(random, i), port, '127.0.0.1');
    // Paced in bursts, so the kernel's socket buffers never drop what the test means to count.
    if (i % 20 === 19) await sleep(1);
  }
  // TCP: 1,000 messages framed on 20 connections, some with broken framing.
  for (let c = 0; c < 20; c++) {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    socket.resume();
    const frames = Array.from({ length: 50 }, (_, j) => {
      const m = fuzzed(random, N + c * 50 + j);
      const head = Buffer.alloc(2);
      head.writeUInt16BE(c % 5 === 0 && j === 25 ? 0 : m.length);
      return Buffer.concat([head, m]);
    });
    socket.end(Buffer.concat(frames));
  }
  const proxy = sidecar.datagramListeners[0] as DnsProxy;
  // Forwarded queries dnsmasq never answers are forgotten after the forwarder's 5 s.
  for (let i = 0; i < 140 && (proxy.view().inFlight as number) > 0; i++) await sleep(50);
  t.ok(answers > 1000, `answers arrived (${answers}, of which ${formerr} FORMERR)`);
  t.ok(formerr > 500, 'undecodable queries got FORMERR');
  const resolver = await resolverFor(port);
  t.same(await resolver.resolve4('api.example.test'), ['10.1.2.3'], 'the proxy still answers');
  const text = await sidecar.metrics.registry.metrics();
  t.match(text, /faultline_dns_queries_total\{rule="",rcode="FORMERR",faulted="false"\} \d+/, 'and its metrics answer');
  const counted = [...text.matchAll(/^faultline_dns_queries_total\{[^}]*\} (\d+)$/gm)].reduce((s, m) => s + Number(m[1]), 0);
  t.ok(counted >= 9000, `every message counted once it was decided (${counted})`, { text: text.split("\n").filter((l) => l.startsWith("faultline_dns")) });
});
