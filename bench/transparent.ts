/**
 * Transparent interception vs none, in network namespaces, in one run: a client namespace sends
 * HTTP/1.1 keep-alive requests (one connection, sequential) and 64-byte echo round trips to an
 * app in a "pod" namespace, through three paths in 12 rounds (4 with --quick) of samples of
 * 2 s of requests and 10,000 echoes (from one client process), direct and on-demand twice a
 * round in alternating order (ABBA, then BAAB), each on-demand sample paired with the direct
 * sample beside it:
 *
 *   - intercepted: faultline's iptables rules (always) and its sidecar, no fault active;
 *   - direct: no rule at all (the baseline);
 *   - on-demand: an on-demand sidecar running beside the app, its policy without a fault; before
 *     each measurement a fault is added and removed again through its admin API, so the
 *     measurement is of the state a fault leaves behind.
 *
 * Then the time from a policy change to the on-demand rules being installed (or removed): by the
 * policy file (watched) and by the admin API, several changes each. Needs root, ip, iptables.
 *
 *   node --import tsx bench/transparent.ts [--quick]
 */
import { execFileSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { chmodSync, mkdtempSync, realpathSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { processes } from './processes.js';
import { stats, type Stats } from './report.js';

interface Figures {
  rps: number;
  p50us: number;
  echoP50us: number;
}

export interface TransparentResult {
  direct: Figures;
  intercepted: Figures;
  onDemand?: Figures;
  /** On-demand over direct, one ratio per adjacent pair. */
  onDemandRatios?: { rps: Stats; p50us: Stats; echoP50us: Stats };
  /** Policy change → on-demand rules changed (ms), median and max over `changes` each. */
  onDemandChange?: { changes: number; fileInstallMedianMs: number; fileInstallMaxMs: number; fileRemoveMedianMs: number; apiInstallMedianMs: number; apiInstallMaxMs: number; apiRemoveMedianMs: number };
}

const BIN = fileURLToPath(new URL('../bin/faultline.js', import.meta.url));
const TOKEN = 'bench-token';
/** The on-demand sidecar's policy: with its one fault, or with none. */
const POLICY = (fault: boolean) =>
  `apiVersion: faultline.dev/v1alpha1\nkind: FaultPolicy\nmetadata: {name: bench}\nspec:\n  rules:${fault ? '\n    - {name: slow-app, match: {direction: inbound, ports: [8080]}, faults: [{type: latency, latency: 1s}]}' : ' []'}\n`;

/** Inside the pod: policy changes by file and by admin API, each timed to the sidecar's `changedAt`. */
const CHANGES = (policy: string, changes: number) => `
const fs = require('fs');
const admin = 'http://127.0.0.1:15100';
const auth = { authorization: 'Bearer ${TOKEN}', 'content-type': 'application/json' };
const state = async () => (await (await fetch(admin + '/policy')).json()).interception;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function settle(t0, installed) {
  for (const end = Date.now() + 5000; Date.now() < end; await sleep(5)) {
    const s = await state();
    if (s.installed === installed && Date.parse(s.changedAt) >= t0) return Date.parse(s.changedAt) - t0;
  }
  throw new Error('no change within 5 s');
}
const text = (fault) => (fault ? ${JSON.stringify(POLICY(true))} : ${JSON.stringify(POLICY(false))});
(async () => {
  const out = { fileInstall: [], fileRemove: [], apiInstall: [], apiRemove: [] };
  for (let i = 0; i < ${changes}; i++) {
    for (const on of [true, false]) {
      await sleep(300);
      const t0 = Date.now();
      fs.writeFileSync(${JSON.stringify(policy)}, text(on));
      (on ? out.fileInstall : out.fileRemove).push(await settle(t0, on));
    }
    for (const on of [true, false]) {
      await sleep(50);
      const t0 = Date.now();
      const res = on
        ? await fetch(admin + '/rules', { method: 'POST', headers: auth, body: JSON.stringify({ name: 'api', match: { direction: 'inbound', ports: [8081] }, faults: [{ type: 'latency', latency: '1s' }] }) })
        : await fetch(admin + '/rules/api', { method: 'DELETE', headers: auth });
      if (!res.ok) throw new Error('admin API: ' + res.status);
      (on ? out.apiInstall : out.apiRemove).push(await settle(t0, on));
    }
  }
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });`;

/** Runs the comparison; needs root, ip, iptables and setpriv. */
export async function measureTransparent(quick: boolean): Promise<TransparentResult> {
  // Many short samples, each pair close in time: on a busy machine load changes from second to
  // second, and the median of many adjacent pairs is what stays put.
  const SECONDS = quick ? 1 : 2;
  const ECHOES = quick ? 2000 : 10_000;
  const ROUNDS = quick ? 4 : 12;
  const id = String(process.pid % 100000);
  const [client, pod] = [`fbc${id}`, `fbp${id}`];
  const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
  const inNs = (ns: string, args: string[]) => execFileSync('ip', ['netns', 'exec', ns, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const children: ChildProcess[] = [];
  const cleanup = () => {
    for (const c of children) c.kill('SIGKILL');
    for (const ns of [client, pod]) {
      try {
        ip('netns', 'del', ns);
      } catch {
        // gone
      }
      processes.netnsGone(ns);
    }
  };
  process.on('exit', cleanup);
  const spawn = (command: string, args: string[], options: SpawnOptions = {}) => processes.spawn(command, args, { stdio: 'inherit', ...options });

  for (const ns of [client, pod]) {
    processes.netns(ns);
    ip('netns', 'add', ns);
    ip('-n', ns, 'link', 'set', 'lo', 'up');
  }
  ip('link', 'add', `c${id}`, 'type', 'veth', 'peer', 'name', `p${id}`);
  ip('link', 'set', `c${id}`, 'netns', client);
  ip('link', 'set', `p${id}`, 'netns', pod);
  ip('-n', client, 'addr', 'add', '10.203.0.1/24', 'dev', `c${id}`);
  ip('-n', pod, 'addr', 'add', '10.203.0.2/24', 'dev', `p${id}`);
  ip('-n', client, 'link', 'set', `c${id}`, 'up');
  ip('-n', pod, 'link', 'set', `p${id}`, 'up');

  const APP = `const http = require('http'), net = require('net');
  http.createServer((q, s) => s.end('ok')).listen(8080, '0.0.0.0');
  net.createServer((s) => { s.setNoDelay(true); s.pipe(s); }).listen(9000, '0.0.0.0');`;
  children.push(spawn('ip', ['netns', 'exec', pod, 'taskset', '-c', '0', process.execPath, '-e', APP]));
  const dir = mkdtempSync(join(tmpdir(), 'faultline-bench-'));
  chmodSync(dir, 0o755);
  const policy = join(dir, 'policy.yaml');
  writeFileSync(policy, 'apiVersion: faultline.dev/v1alpha1\nkind: FaultPolicy\nmetadata: {name: bench}\nspec:\n  rules:\n    - {name: never, match: {ports: [1]}, faults: [{type: latency, latency: 1s}]}\n');
  chmodSync(policy, 0o644);
  const env = { ...process.env, FAULTLINE_LOG_LEVEL: 'warn', HOME: '/tmp' };
  children.push(
    spawn('ip', ['netns', 'exec', pod, 'taskset', '-c', '0', 'setpriv', '--reuid', '1337', '--regid', '1337', '--clear-groups', process.execPath, BIN, 'sidecar', '--policy', policy, '--inbound-port', '15006', '--outbound-port', '15001', '--metrics', '127.0.0.1:15020', '--admin', '127.0.0.1:15000'], { env }),
  );
  // The on-demand sidecar starts as root (its helper keeps root, the proxy drops to 1337), on
  // ports of its own, its policy without a fault; its policy file belongs to the proxy user.
  const onDemandPolicy = join(dir, 'on-demand.yaml');
  const tokenFile = join(dir, 'token');
  writeFileSync(onDemandPolicy, POLICY(false));
  writeFileSync(tokenFile, TOKEN);
  execFileSync('chown', ['1337:1337', onDemandPolicy, tokenFile, dir]);
  children.push(
    spawn(
      'ip',
      ['netns', 'exec', pod, 'taskset', '-c', '0', process.execPath, BIN, 'sidecar', '--policy', onDemandPolicy, '--interception', 'on-demand', '--inbound-port', '15106', '--outbound-port', '15101', '--metrics', '127.0.0.1:15120', '--admin', '127.0.0.1:15100', '--admin-token-file', tokenFile],
      { env },
    ),
  );
  // Both sidecars ready (their /readyz answers 200), however long they take to start (from a
  // source checkout, through tsx, several seconds on a busy machine): at most 60 s.
  for (const port of [15020, 15120]) {
    for (const until = Date.now() + 60_000; ; ) {
      try {
        inNs(pod, ['curl', '-sf', '-o', '/dev/null', `http://127.0.0.1:${port}/readyz`]);
        break;
      } catch (err) {
        if (Date.now() > until) throw new Error(`the sidecar with metrics on ${port} was not ready within 60 s`, { cause: err });
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  // One client process for the whole run, a sample per line on its stdin; every sample opens new
  // connections, so each sees the pod's rules as they are then.
  const CLIENT = `const http = require('http'), net = require('net');
  const seconds = ${SECONDS};
  async function httpRate() {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const end = Date.now() + seconds * 1000; let n = 0; const lat = [];
    while (Date.now() < end) {
      const t0 = performance.now();
      await new Promise((res, rej) => http.get({ host: '10.203.0.2', port: 8080, agent }, (r) => { r.resume(); r.on('end', res); }).on('error', rej));
      lat.push(performance.now() - t0); n++;
    }
    agent.destroy();
    lat.sort((a, b) => a - b);
    return { rps: n / seconds, p50us: lat[Math.floor(lat.length / 2)] * 1000 };
  }
  async function echo() {
    const s = net.connect(9000, '10.203.0.2'); s.setNoDelay(true); await new Promise((r) => s.once('connect', r));
    const lat = []; const msg = Buffer.alloc(64);
    for (let i = 0; i < ${ECHOES}; i++) {
      const t0 = performance.now();
      await new Promise((r) => { let got = 0; const on = (d) => { got += d.length; if (got >= 64) { s.off('data', on); r(); } }; s.on('data', on); s.write(msg); });
      lat.push(performance.now() - t0);
    }
    s.destroy(); lat.sort((a, b) => a - b); return lat[Math.floor(lat.length / 2)] * 1000;
  }
  let queue = Promise.resolve();
  require('readline').createInterface({ input: process.stdin }).on('line', () => {
    queue = queue.then(async () => { const h = await httpRate(); const e = await echo(); console.log(JSON.stringify({ ...h, echoP50us: e })); });
  }).on('close', () => queue.then(() => process.exit(0)));`;

  const clientProcess = spawn('ip', ['netns', 'exec', client, 'taskset', '-c', '0', process.execPath, '-e', CLIENT], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(clientProcess);
  const lines = createInterface({ input: clientProcess.stdout as NodeJS.ReadableStream });
  const waiting: ((line: string) => void)[] = [];
  lines.on('line', (line) => waiting.shift()?.(line));
  const measure = () =>
    new Promise<Figures>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the client sent no sample within 60 s')), 60_000);
      waiting.push((line) => (clearTimeout(timer), resolve(JSON.parse(line) as Figures)));
      clientProcess.stdin?.write('m\n');
    });
  // `faultline iptables --cleanup` leaves the empty built-in nat chains (and so conntrack) in
  // place; the baseline is a namespace with no netfilter hook at all, like a pod before any rule.
  const pristine = () => {
    inNs(pod, [process.execPath, BIN, 'iptables', '--cleanup']);
    for (const chain of ['PREROUTING', 'OUTPUT', 'INPUT', 'POSTROUTING']) {
      try {
        inNs(pod, ['iptables', '-t', 'nat', '-X', chain]);
      } catch {
        // absent, or not empty: then it is someone else's and stays
      }
    }
  };
  const admin = (method: string, path: string, body?: unknown) =>
    inNs(pod, ['curl', '-sf', '-X', method, '-H', `authorization: Bearer ${TOKEN}`, '-H', 'content-type: application/json', ...(body ? ['--data', JSON.stringify(body)] : []), `http://127.0.0.1:15100${path}`]);
  /** Until the on-demand sidecar reports its rules removed (at most 5 s). */
  const rulesGone = () => {
    for (let i = 0; i < 50; i++) {
      const state = (JSON.parse(admin('GET', '/policy').toString()) as { interception?: { installed?: boolean } }).interception;
      if (state?.installed === false) return;
      execFileSync('sleep', ['0.1']);
    }
  };
  const faultComesAndGoes = () => {
    admin('POST', '/rules', { name: 'visit', match: { direction: 'inbound', ports: [8080] }, faults: [{ type: 'latency', latency: '1s' }] });
    admin('DELETE', '/rules/visit');
    rulesGone();
  };

  const paths = ['intercepted', 'direct', 'onDemand'] as const;
  const runs: Record<(typeof paths)[number], Figures[]> = { intercepted: [], direct: [], onDemand: [] };
  // The work of a change (curl, the sidecar, its root helper's iptables-restore) is done by then;
  // a direct sample asks the same admin API once, so that both start alike.
  const settle = () => execFileSync('sleep', ['1']);
  const steps = {
    direct: async () => {
      rulesGone();
      settle();
      const f = await measure();
      runs.direct.push(f);
      return f;
    },
    onDemand: async () => {
      faultComesAndGoes();
      settle();
      const f = await measure();
      runs.onDemand.push(f);
      return f;
    },
  };
  /** On-demand over direct for each adjacent pair: the machine's drift cancels within a pair. */
  const pairs: { rps: number[]; p50us: number[]; echoP50us: number[] } = { rps: [], p50us: [], echoP50us: [] };
  const pair = (d: Figures, o: Figures) => {
    for (const k of ['rps', 'p50us', 'echoP50us'] as const) pairs[k].push(o[k] / d[k]);
  };
  pristine();
  // Direct and on-demand twice a round, ABBA then BAAB: neither gains from its place in a round.
  for (let round = 0; round < ROUNDS; round++) {
    // The `always` path every fourth round: installing its rules takes a while.
    if (round % 4 === 0) {
      inNs(pod, [process.execPath, BIN, 'iptables']);
      runs.intercepted.push(await measure());
      pristine();
    }
    const { direct, onDemand } = steps;
    if (round % 2 === 0) {
      const d1 = await direct();
      pair(d1, await onDemand());
      const o2 = await onDemand();
      pair(await direct(), o2);
    } else {
      const o1 = await onDemand();
      pair(await direct(), o1);
      const d2 = await direct();
      pair(d2, await onDemand());
    }
  }
  clientProcess.stdin?.end();
  const changes = JSON.parse(inNs(pod, ['setpriv', '--reuid', '1337', '--regid', '1337', '--clear-groups', process.execPath, '-e', CHANGES(onDemandPolicy, quick ? 3 : 8)]).trim()) as Record<'fileInstall' | 'fileRemove' | 'apiInstall' | 'apiRemove', number[]>;
  const mid = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  const summary = (k: (typeof paths)[number]): Figures => ({ rps: mid(runs[k].map((r) => r.rps)), p50us: mid(runs[k].map((r) => r.p50us)), echoP50us: mid(runs[k].map((r) => r.echoP50us)) });
  cleanup();
  children.length = 0;
  return {
    direct: summary('direct'),
    intercepted: summary('intercepted'),
    onDemand: summary('onDemand'),
    onDemandRatios: { rps: stats(pairs.rps), p50us: stats(pairs.p50us), echoP50us: stats(pairs.echoP50us) },
    onDemandChange: {
      changes: changes.fileInstall.length,
      fileInstallMedianMs: mid(changes.fileInstall),
      fileInstallMaxMs: Math.max(...changes.fileInstall),
      fileRemoveMedianMs: mid(changes.fileRemove),
      apiInstallMedianMs: mid(changes.apiInstall),
      apiInstallMaxMs: Math.max(...changes.apiInstall),
      apiRemoveMedianMs: mid(changes.apiRemove),
    },
  };
}

if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const r = await measureTransparent(process.argv.includes('--quick'));
  const { direct: d, intercepted: i } = r;
  const line = (name: string, f: Figures) => `${name.padEnd(12)} ${f.rps.toFixed(0)} req/s, HTTP p50 ${f.p50us.toFixed(0)} us, echo p50 ${f.echoP50us.toFixed(0)} us`;
  const ratios = (name: string, f: Figures) => `${name} / direct: req/s ${(f.rps / d.rps).toFixed(3)}x, HTTP p50 ${(f.p50us / d.p50us).toFixed(3)}x, echo p50 ${(f.echoP50us / d.echoP50us).toFixed(3)}x`;
  console.log('placement: client, app and sidecars on cpu 0; rounds alternating, medians; no fault active');
  console.log([line('direct:', d), line('intercepted:', i), ...(r.onDemand ? [line('on-demand:', r.onDemand)] : [])].join('\n'));
  console.log(ratios('intercepted', i));
  if (r.onDemand) console.log(ratios('on-demand', r.onDemand));
  const q = r.onDemandRatios;
  const range = (s: Stats) => `${s.median.toFixed(3)} [${s.min.toFixed(3)}-${s.max.toFixed(3)}] (interquartile mean ${(s.trimmedMean ?? s.median).toFixed(3)})`;
  if (q) console.log(`on-demand / direct, paired (${q.rps.n} pairs), median [min-max]: req/s ${range(q.rps)}, HTTP p50 ${range(q.p50us)}, echo p50 ${range(q.echoP50us)}`);
  const c = r.onDemandChange;
  if (c) {
    console.log(`policy change -> on-demand rules, ${c.changes} changes each: file install median ${c.fileInstallMedianMs} ms / max ${c.fileInstallMaxMs} ms, file removal median ${c.fileRemoveMedianMs} ms; admin API install median ${c.apiInstallMedianMs} ms / max ${c.apiInstallMaxMs} ms, removal median ${c.apiRemoveMedianMs} ms`);
  }
  process.exit(0);
}
