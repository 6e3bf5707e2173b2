import { isIP } from 'node:net';
import t from 'tap';
import { dnsAnswer } from '../../src/faults/dns-answer.js';
import { dnsEffect, scripted } from '../helpers/faults.js';

// End to end (node:dns, dig): test/dns/proxy.test.ts.
t.test('dns_answer: the addresses of the query\'s family, random ones from unrouted ranges, or none', async (t) => {
  const addresses = ['192.0.2.1', '2001:db8::1', '192.0.2.2'];
  t.same(dnsEffect(dnsAnswer, { addresses }), { answer: { addresses: ['192.0.2.1', '192.0.2.2'], ttl: 10 } }, 'A: the IPv4 ones, ttl 10 s by default');
  t.same(dnsEffect(dnsAnswer, { addresses, ttl: '1m' }, { type: 'AAAA' }), { answer: { addresses: ['2001:db8::1'], ttl: 60 } }, 'AAAA: the IPv6 one');
  t.same(dnsEffect(dnsAnswer, { addresses }, { type: 'SRV' }), { answer: { addresses: [], ttl: 10 } }, 'other types: an empty answer');
  t.same(dnsEffect(dnsAnswer, { addresses: [] }), { answer: { addresses: [], ttl: 10 } }, '[]: an empty answer');
  const v4 = dnsEffect(dnsAnswer, { random: true, count: 4 })?.answer?.addresses ?? [];
  t.equal(v4.length, 4);
  for (const a of v4) t.ok(/^198\.1[89]\./.test(a) && isIP(a) === 4, `${a} is in 198.18.0.0/15`);
  const v6 = dnsEffect(dnsAnswer, { random: true }, { type: 'AAAA' }, scripted(0.5))?.answer?.addresses ?? [];
  t.same(v6, ['2001:db8:8000:8000:8000:8000:8000:8000']);
  for (const bad of [{}, { addresses: ['192.0.2.1'], random: true }, { addresses: ['db.svc'] }, { random: true, count: 17 }]) {
    t.notOk(dnsAnswer.options.safeParse(bad).success, `refused: ${JSON.stringify(bad)}`);
  }
});
