import t from 'tap';
import { dnsError } from '../../src/faults/dns-error.js';
import { dnsEffect } from '../helpers/faults.js';

// End to end (dig, node:dns against dnsmasq): test/dns/proxy.test.ts.
t.test('dns_error answers with its rcode, SERVFAIL by default', async (t) => {
  t.same(dnsEffect(dnsError, {}), { rcode: 'SERVFAIL' });
  for (const rcode of ['NXDOMAIN', 'SERVFAIL', 'REFUSED']) t.same(dnsEffect(dnsError, { rcode }), { rcode });
  t.notOk(dnsError.options.safeParse({ rcode: 'NOERROR' }).success, 'only error rcodes');
  t.equal(dnsError.defaultStream, null, 'no stream: a query has none');
});
