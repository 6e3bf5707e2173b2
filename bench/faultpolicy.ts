/**
 * FaultPolicy objects, end to end: a real `faultline sidecar --faultpolicies` process watching
 * the test suite's fake Kubernetes API server (list, then watch), 10 rounds of
 *
 *   - watch-to-effect: from the object's creation in the API server (the watch event is sent at
 *     once) to the sidecar's "FaultPolicy objects applied" log line (the policy is swapped in then:
 *     new and live connections see the fault);
 *   - delete-to-removal: from the object's deletion to the line without it;
 *
 * median and max of each, from the log lines' timestamps (same clock). Loopback only, bounded.
 *
 *   node --import tsx bench/faultpolicy.ts
 */
import type { Test } from 'tap';
import { RESOURCE } from '../src/faultpolicy/resource.js';
import { createFaultPolicy, faultPolicyApi, INJECTED, watchingSidecar } from '../test/helpers/faultpolicy.js';
import { echoServer } from '../test/helpers/net.js';

const ROUNDS = 10;
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;

async function main(): Promise<void> {
  const teardowns: (() => unknown)[] = [];
  const t = { teardown: (fn: () => unknown) => void teardowns.push(fn) } as unknown as Test;
  try {
    const api = await faultPolicyApi(t);
    const { port: upstream } = await echoServer(t);
    api.addPod({ namespace: 'shop', name: 'shop-0', labels: { app: 'shop' }, annotations: INJECTED });
    const { daemon } = await watchingSidecar(t, api, 'shop-0', { app: 'shop' }, upstream);
    const line = (from: number, name: string, has: boolean) => daemon.waitForLine((l) => l.msg === 'FaultPolicy objects applied' && daemon.lines.indexOf(l) >= from && (l.applied as string[]).includes(name) === has, 10_000);
    const apply: number[] = [];
    const remove: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const name = `bench-${i}`;
      let from = daemon.lines.length;
      const created = Date.now();
      createFaultPolicy(api, 'shop', name, { selector: { matchLabels: { app: 'shop' } }, rules: [{ name: `r-${i}`, match: { listener: 'up' }, faults: [{ type: 'latency', latency: '5ms' }] }] });
      apply.push(Date.parse(String((await line(from, name, true)).time)) - created);
      from = daemon.lines.length;
      const deleted = Date.now();
      api.store.delete(RESOURCE, 'shop', name);
      remove.push(Date.parse(String((await line(from, name, false)).time)) - deleted);
    }
    const show = (what: string, values: number[]) => `${what}: median ${median(values)} ms, max ${Math.max(...values)} ms (${values.join(', ')})`;
    console.log(`FaultPolicy objects, one real sidecar watching the test API server, ${ROUNDS} rounds`);
    console.log(show('  watch-to-effect  ', apply));
    console.log(show('  delete-to-removal', remove));
  } finally {
    for (const fn of teardowns.reverse()) await fn();
  }
}

await main();
