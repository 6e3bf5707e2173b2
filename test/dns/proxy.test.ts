import { createSocket } from 'node:dgram';
import * as dnsPacket from 'dns-packet';
import t, { type Test } from 'tap';
import { pino } from 'pino';
import { Metrics } from '../../src/metrics.js';
import { Sidecar } from '../../src/sidecar.js';
import { canUseDnsTools, dig, digAnswer, resolverFor, startDnsmasq } from '../helpers/dns.js';
import { policyText } from '../helpers/sidecar.js';

const skip = canUseDnsTools();

/** An in-process sidecar with a `protocol: dns` listener in front of `upstream`, and the given rules. */
async function dnsSidecar(t: Test, upstream: number, rules?: string) {
  const sidecar = new Sidecar({ log: pino({ level: 'silent' }), metrics: new Metrics({ processMetrics: false }) });
  await sidecar.start();
  const listeners = [`{name: dns, listen: "127.0.0.1:0", upstream: "127.0.0.1:${upstream}", protocol: dns}`];
  const set = async (r?: string) => t.ok(await sidecar.reload(policyText({ listeners, rules: r })), `policy applied ${sidecar.lastError?.message ?? ''}`);
  await set(rules);
  t.teardown(() => sidecar.drain(0));
  return { sidecar, port: sidecar.address('dns').port, set };
}

const metric = async (sidecar: Sidecar, labels: string) => {
  const text = await sidecar.metrics.registry.getSingleMetricAsString('faultline_dns_queries_total');
  return Number(new RegExp(`^faultline_dns_queries_total\\{${labels}\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
};

/** One raw UDP exchange with a server: the answer's bytes, or undefined after `ms`. */
function exchange(port: number, query: Buffer, ms = 1000): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    const timer = setTimeout(() => {
      socket.close();
      resolve(undefined);
    }, ms);
    socket.once('message', (answer) => {
      clearTimeout(timer);
      socket.close();
      resolve(answer);
    });
    socket.send(query, port, '127.0.0.1');
  });
}

t.test('with no fault, answers are relayed byte for byte, over UDP and TCP', { skip }, async (t) => {
  const upstream = await startDnsmasq(t);
  const { port, sidecar } = await dnsSidecar(t, upstream.port, `    - name: other-names
      match: {dns: {names: ["nothing.example.test"]}}
      faults: [{type: dns_error, rcode: REFUSED}]`);
  // (dnsmasq orders an SRV answer's additional records at random: the test below covers any bytes.)
  const cases: [string, dnsPacket.RecordType][] = [['api.example.test', 'A'], ['API.Example.Test', 'AAAA'], ['txt.example.test', 'TXT'], ['missing.example.test', 'A'], ['nx.example.test', 'A']];
  for (const [i, [name, type]] of cases.entries()) {
    const query = dnsPacket.encode({ type: 'query', id: 4000 + i, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name }] });
    const direct = await exchange(upstream.port, query);
    const proxied = await exchange(port, query);
    t.ok(direct && proxied && direct.equals(proxied), `${type} ${name}: the same ${direct?.length} bytes as from the resolver itself`);
  }
  const tcp = digAnswer(await dig(['@127.0.0.1', '-p', String(port), '+tcp', 'api.example.test', 'A']));
  t.same(tcp, { status: 'NOERROR', records: ['api.example.test. 0 IN A 10.1.2.3'] }, 'over TCP too');
  t.equal(await metric(sidecar, 'rule="",rcode="NOERROR",faulted="false"'), 3 + 1, 'every query counted, rcode from the answer');
  t.equal(await metric(sidecar, 'rule="",rcode="NXDOMAIN",faulted="false"'), 1);
  t.equal(await metric(sidecar, 'rule="",rcode="REFUSED",faulted="false"'), 1, 'dnsmasq without upstream refuses names it does not know');
});

t.test('whatever bytes the upstream answers with reach the client, only the id restored', { skip }, async (t) => {
  // An upstream answering every query with odd but decodable bytes: compression, an unknown
  // type, an EDNS option; the proxy must not re-encode any of it.
  const server = createSocket('udp4');
  await new Promise<void>((resolve) => server.bind(0, '127.0.0.1', () => resolve()));
  t.teardown(() => server.close());
  const odd = (id: number) =>
    Buffer.concat([
      dnsPacket.encode({
        type: 'response', id, flags: dnsPacket.RECURSION_AVAILABLE | dnsPacket.AUTHENTIC_DATA,
        questions: [{ type: 'A', name: 'odd.example.test' }],
        answers: [{ type: 'A', name: 'odd.example.test', ttl: 7, data: '10.7.7.7' }, { type: 'NULL', name: 'odd.example.test', data: Buffer.from('xyz') } as dnsPacket.Answer],
      }),
      Buffer.from('trailing-bytes'),
    ]);
  server.on('message', (query, rinfo) => server.send(odd(query.readUInt16BE(0)), rinfo.port, rinfo.address));
  const { port } = await dnsSidecar(t, server.address().port);
  const query = dnsPacket.encode({ type: 'query', id: 777, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name: 'odd.example.test' }] });
  const answer = await exchange(port, query);
  t.ok(answer?.equals(odd(777)), 'byte for byte, trailing bytes included');
});

t.test('dns_error: each rcode as real clients see it', { skip }, async (t) => {
  const upstream = await startDnsmasq(t);
  const { port, sidecar } = await dnsSidecar(t, upstream.port, `    - name: gone
      match: {listener: dns, dns: {names: ["api.example.test"], types: [A]}}
      faults: [{type: dns_error, rcode: NXDOMAIN}]
    - name: broken
      match: {dns: {names: ["*.payments.svc.cluster.local"]}}
      faults: [{type: dns_error}]
    - name: refused
      match: {dns: {names: ["other.example.test"]}}
      faults: [{type: dns_error, rcode: REFUSED}]`);
  t.equal(digAnswer(await dig(['@127.0.0.1', '-p', String(port), 'api.example.test', 'A'])).status, 'NXDOMAIN', 'dig: NXDOMAIN');
  t.same(digAnswer(await dig(['@127.0.0.1', '-p', String(port), 'api.example.test', 'AAAA'])).records, ['api.example.test. 0 IN AAAA fd00::1:2:3'], 'types: [A] leaves AAAA alone');
  t.equal(digAnswer(await dig(['@127.0.0.1', '-p', String(port), 'DB.payments.svc.cluster.local'])).status, 'SERVFAIL', 'a glob, any case: SERVFAIL (the default)');
  t.equal(digAnswer(await dig(['@127.0.0.1', '-p', String(port), 'other.example.test'])).status, 'REFUSED', 'REFUSED');
  const resolver = await resolverFor(port);
  await t.rejects(resolver.resolve4('api.example.test'), { code: 'ENOTFOUND' }, 'node:dns: ENOTFOUND');
  await t.rejects(resolver.resolve4('db.payments.svc.cluster.local'), { code: 'ESERVFAIL' }, 'node:dns: ESERVFAIL');
  await t.rejects(resolver.resolve4('other.example.test'), { code: 'EREFUSED' }, 'node:dns: EREFUSED');
  t.equal(await metric(sidecar, 'rule="gone",rcode="NXDOMAIN",faulted="true"'), 2);
  t.equal(await metric(sidecar, 'rule="broken",rcode="SERVFAIL",faulted="true"'), 2);
});

t.test('dns_delay: within tolerance; dns_timeout: the client\'s own timeout', { skip }, async (t) => {
  const upstream = await startDnsmasq(t);
  const { port, sidecar } = await dnsSidecar(t, upstream.port, `    - name: slow
      match: {dns: {names: ["api.example.test"]}}
      faults: [{type: dns_delay, delay: 100ms}]
    - name: dead
      match: {dns: {names: ["other.example.test"]}}
      faults: [{type: dns_timeout}]`);
  const resolver = await resolverFor(port, 2000);
  const times: number[] = [];
  for (let i = 0; i < 20; i++) {
    const started = performance.now();
    t.same(await resolver.resolve4('api.example.test'), ['10.1.2.3']);
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  const p50 = times[10] as number;
  t.ok((times[0] as number) >= 99, `never early (fastest ${times[0]?.toFixed(1)} ms)`);
  t.ok(p50 < 130, `median ${p50.toFixed(1)} ms for a 100 ms delay`);
  const quick = await resolverFor(port, 300);
  const started = performance.now();
  await t.rejects(quick.resolve4('other.example.test'), { code: 'ETIMEOUT' }, 'node:dns times out');
  const waited = performance.now() - started;
  t.ok(waited >= 280 && waited < 1000, `after its own 300 ms timeout (${waited.toFixed(0)} ms)`);
  t.match(await dig(['@127.0.0.1', '-p', String(port), '+tries=1', '+time=1', 'other.example.test']), /timed out/, 'dig: timed out');
  t.equal(await metric(sidecar, 'rule="dead",rcode="none",faulted="true"'), 2, 'counted as unanswered');
});

t.test('dns_truncate: clients retry over TCP and get the real answer', { skip }, async (t) => {
  const upstream = await startDnsmasq(t);
  const { port, sidecar } = await dnsSidecar(t, upstream.port, `    - name: tc
      match: {dns: {names: ["api.example.test"]}}
      faults: [{type: dns_truncate}]`);
  const output = await dig(['@127.0.0.1', '-p', String(port), 'api.example.test', 'A']);
  t.match(output, /Truncated, retrying in TCP mode/, 'dig sees TC and retries over TCP');
  t.same(digAnswer(output).records, ['api.example.test. 0 IN A 10.1.2.3'], 'and gets the answer');
  t.same(await (await resolverFor(port)).resolve4('api.example.test'), ['10.1.2.3'], 'node:dns (c-ares) does the same');
  t.same(await metric(sidecar, 'rule="tc",rcode="NOERROR",faulted="true"'), 2, 'the truncated UDP answers');
  t.same(await metric(sidecar, 'rule="",rcode="NOERROR",faulted="false"'), 2, 'and the TCP queries, which pass');
});

t.test('dns_answer: fixed, random and empty answers; firstConnections counts queries; probability per query', { skip }, async (t) => {
  const upstream = await startDnsmasq(t);
  const { port, set } = await dnsSidecar(t, upstream.port, `    - name: pinned
      match: {dns: {names: ["api.example.test"]}}
      faults: [{type: dns_answer, addresses: ["192.0.2.10", "192.0.2.11", "2001:db8::10"], ttl: 30s}]
    - name: random
      match: {dns: {names: ["other.example.test"]}}
      faults: [{type: dns_answer, random: true, count: 3}]
    - name: empty
      match: {dns: {names: ["db.payments.svc.cluster.local"]}}
      faults: [{type: dns_answer, addresses: []}]`);
  const resolver = await resolverFor(port);
  t.same((await resolver.resolve4('api.example.test')).sort(), ['192.0.2.10', '192.0.2.11'], 'the A query gets the IPv4 addresses');
  t.same(await resolver.resolve6('api.example.test'), ['2001:db8::10'], 'AAAA the IPv6 one');
  t.match(digAnswer(await dig(['@127.0.0.1', '-p', String(port), 'api.example.test'])).records, [/^api\.example\.test\. 30 IN A 192\.0\.2\.1[01]$/, /^api\.example\.test\. 30 IN A/], 'with the ttl given');
  const first = await resolver.resolve4('other.example.test');
  const second = await resolver.resolve4('other.example.test');
  t.equal(first.length, 3, 'count random addresses');
  for (const a of [...first, ...second]) t.match(a, /^198\.1[89]\.\d+\.\d+$/, `${a} in 198.18.0.0/15`);
  t.notSame(first, second, 'drawn anew per query');
  for (const a of await resolver.resolve6('other.example.test')) t.match(a, /^2001:db8:/, `${a} in 2001:db8::/32`);
  const empty = await dig(['@127.0.0.1', '-p', String(port), 'db.payments.svc.cluster.local']);
  t.same(digAnswer(empty), { status: 'NOERROR', records: [] }, 'addresses: [] is an empty answer (NODATA)');
  await t.rejects(resolver.resolve4('db.payments.svc.cluster.local'), { code: 'ENODATA' });

  await set(`    - name: twice
      match: {dns: {names: ["api.example.test"]}}
      faults: [{type: dns_error, rcode: NXDOMAIN, firstConnections: 2}]
    - name: half
      match: {dns: {names: ["other.example.test"]}}
      faults: [{type: dns_error, rcode: REFUSED, probability: 0.5}]`);
  const results: string[] = [];
  for (let i = 0; i < 4; i++) results.push(await resolver.resolve4('api.example.test').then(() => 'ok', (e: NodeJS.ErrnoException) => e.code ?? ''));
  t.same(results, ['ENOTFOUND', 'ENOTFOUND', 'ok', 'ok'], 'firstConnections: 2 faults the first two queries');
  let refused = 0;
  const n = 200;
  for (let i = 0; i < n; i++) refused += await resolver.resolve4('other.example.test').then(() => 0, () => 1);
  // 99.99% binomial interval for p = 0.5, n = 200: ±3.9 sigma, sigma = 7.07.
  t.ok(refused > 72 && refused < 128, `probability 0.5 per query: ${refused} of ${n} refused`);
});

t.test('GET /dns shows recent queries; malformed ones get FORMERR; policy changes apply to the next query', { skip }, async (t) => {
  const upstream = await startDnsmasq(t);
  const { port, sidecar, set } = await dnsSidecar(t, upstream.port);
  const resolver = await resolverFor(port);
  t.same(await resolver.resolve4('api.example.test'), ['10.1.2.3']);
  const junk = Buffer.from('0102000000010000000000000377777700', 'hex');
  const answer = await exchange(port, Buffer.concat([junk.subarray(0, 12), Buffer.from([0xc0, 0xff])]));
  t.ok(answer, 'a query the library cannot decode is answered');
  const decoded = dnsPacket.decode(answer as Buffer) as dnsPacket.DecodedPacket & { rcode: string };
  t.match(decoded, { id: 0x0102, type: 'response', rcode: 'FORMERR' }, 'FORMERR, with its id');
  t.equal(await exchange(port, Buffer.from([1, 2, 3]), 300), undefined, 'less than a header: dropped');
  t.equal(await exchange(port, dnsPacket.encode({ type: 'response', id: 9, questions: [{ type: 'A', name: 'x.test' }] }), 300), undefined, 'a response: dropped (no reflection)');
  await set(`    - name: now-broken
      match: {dns: {}}
      faults: [{type: dns_error, rcode: SERVFAIL}]`);
  await t.rejects(resolver.resolve4('api.example.test'), { code: 'ESERVFAIL' }, 'an empty dns match takes every query');
  const { proxies } = (await import('../../src/admin/datagram-views.js')).dnsView(sidecar) as { proxies: { listener: string; recent: Record<string, unknown>[] }[] };
  t.equal(proxies[0]?.listener, 'dns');
  t.match(proxies[0]?.recent, [
    { transport: 'udp', name: 'api.example.test', type: 'A', rule: '', faults: [], rcode: 'NOERROR', ms: Number },
    { name: null, rcode: 'FORMERR' },
    { name: null, rcode: 'none' },
    { name: null, rcode: 'none' },
    { name: 'api.example.test', rule: 'now-broken', faults: ['now-broken/dns_error'], rcode: 'SERVFAIL' },
  ]);
  sidecar.engine.killSwitch = true;
  t.same(await resolver.resolve4('api.example.test'), ['10.1.2.3'], 'the kill switch turns DNS faults off too');
});
