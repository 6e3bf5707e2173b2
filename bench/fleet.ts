/**
 * The time from `faultline killswitch on` to the kill switch being on in all 20 sidecars: 20 real
 * `faultline sidecar` processes behind the test suite's fake Kubernetes API server (its pod proxy
 * forwards to them on loopback), median of 5, measured two ways:
 *
 *   - the CLI process: spawn `faultline killswitch on -l app=shop` until it exits (every sidecar
 *     has answered then; each is checked after), from source (tsx) and, when dist/ is built, from
 *     the compiled JavaScript a package install runs;
 *   - the fan-out alone: the pods listed and the Secret read once, then the 20 calls in parallel.
 *
 * Between rounds the kill switch goes off again. Loopback only, bounded (5 rounds).
 *
 *   node --import tsx bench/fleet.ts
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Test } from 'tap';
import { expectStatus } from '../src/fleet/endpoint.js';
import { fanOut } from '../src/fleet/fanout.js';
import { openFleet } from '../src/fleet/session.js';
import { startFleet, type FleetHarness } from '../test/helpers/fleet.js';
import { COMPILED_CLI, SOURCE_CLI } from './runtime.js';

const ROUNDS = 5;
const PODS = 20;
const BIN = SOURCE_CLI;

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;

function run(entry: string, args: string[]): Promise<{ code: number | null; ms: number }> {
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [entry, ...args], { stdio: 'ignore' });
    child.on('close', (code) => resolve({ code, ms: performance.now() - started }));
  });
}

async function allOn(fleet: FleetHarness, on: boolean): Promise<void> {
  const states = await Promise.all(fleet.sidecars.map((s) => fleet.killSwitch(s)));
  if (!states.every((s) => s === on)) throw new Error(`kill switch ${on ? 'on' : 'off'} expected in all ${PODS}, got ${states.join(',')}`);
}

async function cliRounds(fleet: FleetHarness, entry: string): Promise<number[]> {
  const args = (state: string) => ['killswitch', state, '-l', 'app=shop', '--kubeconfig', fleet.api.kubeconfig];
  const times: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const on = await run(entry, args('on'));
    if (on.code !== 0) throw new Error(`killswitch on exited ${on.code}`);
    await allOn(fleet, true);
    times.push(on.ms);
    if ((await run(entry, args('off'))).code !== 0) throw new Error('killswitch off failed');
    await allOn(fleet, false);
  }
  return times;
}

async function main(): Promise<void> {
  const teardowns: (() => unknown)[] = [];
  // The test helpers clean up through tap's teardown; here, at the end.
  const t = { teardown: (fn: () => unknown) => void teardowns.push(fn) } as unknown as Test;
  try {
    const fleet = await startFleet(t, PODS);
    const source = await cliRounds(fleet, BIN);
    const built = existsSync(COMPILED_CLI) ? await cliRounds(fleet, COMPILED_CLI) : undefined;
    const opened = await openFleet({ kubeconfig: fleet.api.kubeconfig, selector: 'app=shop', timeoutMs: 5000 }, 'killswitch');
    const fan: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      for (const method of ['POST', 'DELETE']) {
        const started = performance.now();
        const results = await fanOut(opened.targets, async (pod) => expectStatus(await opened.endpoint.call(pod, method, '/killswitch'), [200], 'killswitch'));
        if (results.some((r) => r.result !== 'ok')) throw new Error('a fan-out call failed');
        if (method === 'POST') fan.push(performance.now() - started);
        await allOn(fleet, method === 'POST');
      }
    }
    const line = (name: string, values: number[]) => `${name}: median ${median(values).toFixed(1)} ms (${values.map((v) => v.toFixed(1)).join(', ')})`;
    console.log(`faultline killswitch on -> on in all ${PODS} sidecars, ${ROUNDS} rounds`);
    console.log(line('  CLI process, from source (tsx)', source));
    if (built) console.log(line('  CLI process, compiled (dist/)', built));
    console.log(line('  fan-out alone (20 pod-proxy calls, 32 at once)', fan));
  } finally {
    for (const fn of teardowns.reverse()) await fn();
  }
}

await main();
