import t from 'tap';
import { dnsTimeout } from '../../src/faults/dns-timeout.js';
import { dnsEffect } from '../helpers/faults.js';

// End to end (the client's own timeout fires): test/dns/proxy.test.ts.
t.test('dns_timeout leaves the query unanswered, over UDP and TCP', async (t) => {
  t.same(dnsEffect(dnsTimeout, {}), { drop: true });
  t.same(dnsEffect(dnsTimeout, {}, { transport: 'tcp' }), { drop: true });
  t.notOk(dnsTimeout.options.safeParse({ after: 1 }).success, 'no fields of its own');
});
