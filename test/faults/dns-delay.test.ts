import t from 'tap';
import { dnsDelay } from '../../src/faults/dns-delay.js';
import { dnsEffect, scripted } from '../helpers/faults.js';

// End to end, with the tolerance: test/dns/proxy.test.ts.
t.test('dns_delay holds a query delay ± jitter, drawn per query, never below 0', async (t) => {
  t.same(dnsEffect(dnsDelay, { delay: '100ms' }), { delayMs: 100 });
  t.same(dnsEffect(dnsDelay, { delay: '100ms', jitter: '20ms' }, {}, scripted(0)), { delayMs: 80 }, 'the low end');
  t.same(dnsEffect(dnsDelay, { delay: '100ms', jitter: '20ms' }, {}, scripted(0.999999)), { delayMs: 119.99996 }, 'the high end');
  t.same(dnsEffect(dnsDelay, { delay: '10ms', jitter: '50ms' }, {}, scripted(0)), { delayMs: 0 });
  t.notOk(dnsDelay.options.safeParse({}).success, 'delay is required');
});
