import t from 'tap';
import { dnsTruncate } from '../../src/faults/dns-truncate.js';
import { dnsEffect } from '../helpers/faults.js';

// End to end (dig and c-ares retry over TCP): test/dns/proxy.test.ts.
t.test('dns_truncate sets TC on UDP answers only, so the retry over TCP gets through', async (t) => {
  t.same(dnsEffect(dnsTruncate, {}), { truncate: true });
  t.equal(dnsEffect(dnsTruncate, {}, { transport: 'tcp' }), undefined, 'a TCP query passes');
});
