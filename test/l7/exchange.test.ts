import t from 'tap';
import type { RequestDecision } from '../../src/engine/engine.js';
import { faultRegistry } from '../../src/faults/index.js';
import { ExchangePlan } from '../../src/l7/exchange.js';
import type { CompiledFault } from '../../src/policy/compile.js';

/** A drawn fault of `type` with `options`, as the engine hands it over. */
function drawn(type: string, options: object, rule = 'r'): RequestDecision {
  const fault = { key: `${rule}/${type}`, rule, type: faultRegistry.get(type), options, probability: 1, streams: ['downstream'], after: 0, for: undefined, firstConnections: undefined, ruleExpiresAt: undefined } as unknown as CompiledFault;
  return { fault, options, ctx: { shared: {}, now: Date.now(), random: () => 0.5 } };
}

t.test('the first fault that answers or resets wins; holds add up; the lowest rate paces', async (t) => {
  const plan = ExchangePlan.of('http', [
    drawn('http_delay', { delay: 100, phase: 'request' }),
    drawn('http_delay', { delay: 50, phase: 'response' }, 'r2'),
    drawn('http_throttle', { rate: 2048 }),
    drawn('http_throttle', { rate: 1024 }, 'r3'),
    drawn('http_abort', { status: 418 }),
    drawn('http_reset', {}),
  ]);
  t.equal(plan.requestHoldMs, 100);
  t.equal(plan.responseHoldMs, 50);
  t.equal(plan.rate, 1024);
  t.match(plan.replaced, { reset: false, answer: { status: 418 }, by: { rule: 'r', type: { type: 'http_abort' } } });
  t.equal(plan.acted.length, 6, 'each fault that acted counts once');
});

t.test('WebSocket verbs, a rate_limit with tokens left, and the shared untouched plan', async (t) => {
  const ws = ExchangePlan.of('ws', [drawn('ws_delay', { delay: 20 }), drawn('ws_drop', {}), drawn('ws_close', { code: 4000, reason: 'bye' })]);
  t.same([ws.requestHoldMs, ws.dropped, ws.closing], [20, true, { code: 4000, reason: 'bye' }]);
  const limited = ExchangePlan.of('grpc', [drawn('rate_limit', { rate: 10, burst: 5 })]);
  t.ok(limited.empty, 'a bucket with tokens does nothing, and nothing is counted');
  t.equal(ExchangePlan.of('http', []), ExchangePlan.of('http', []), 'no fault drawn: one shared plan');
  t.ok(ExchangePlan.of('http', []).empty);
});
