/**
 * Transparent interception vs none, in network namespaces, in one run. A client namespace sends
 * HTTP/1.1 keep-alive requests (one connection, sequential) and 64-byte echo round trips to two
 * "pod" namespaces side by side, each on a veth pair of its own with the same app:
 *
 *   - direct: no rule at all (the baseline); its `always` sidecar idles there, and every fourth
 *     round its rules are installed for an `intercepted` sample and removed again;
 *   - on-demand: an on-demand sidecar beside the app, its policy without a fault; before each
 *     sample a fault is added and removed again through its admin API, so the sample is of the
 *     state a fault leaves behind.
 *
 * Each of 24 samples (8 with --quick) sends 1 s worth of requests and 5,000 echoes to each pod,
 * in turn, one by one (ABBA): the two pods meet the same machine at the same moment, so a ratio
 * taken within a sample does not move with the machine's load. Then the time from a policy
 * change to the on-demand rules being installed (or removed): by the policy file (watched) and
 * by the admin API, several changes each. Needs root, ip, iptables.
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
import { buildCompiledCli, sidecarCli } from './runtime.js';
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
  const SECONDS = quick ? 0.5 : 1;
  const ECHOES = quick ? 1000 : 5000;
  const ROUNDS = quick ? 8 : 24;
  const id = String(process.pid % 100000);
  // Two pods beside each other: `direct` (no rule at all; its `always` sidecar idles until its
  // rules are installed for the intercepted samples) and `onDemand` (an on-demand sidecar).
  const [client, direct, onDemand] = [`fbc${id}`, `fbd${id}`, `fbp${id}`];
  const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
  const inNs = (ns: string, args: string[]) => execFileSync('ip', ['netns', 'exec', ns, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const children: ChildProcess[] = [];
  const cleanup = () => {
    for (const c of children) c.kill('SIGKILL');
    for (const ns of [client, direct, onDemand]) {
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

  for (const ns of [client, direct, onDemand]) {
    processes.netns(ns);
    ip('netns', 'add', ns);
    ip('-n', ns, 'link', 'set', 'lo', 'up');
  }
  // One veth pair per pod, each on a /24 of its own: the client reaches both alike.
  const POD_ADDRESS = { [direct]: '10.203.0.2', [onDemand]: '10.204.0.2' };
  for (const [n, pod] of [direct, onDemand].entries()) {
    const [near, far] = [`c${n}${id}`, `p${n}${id}`];
    ip('link', 'add', near, 'type', 'veth', 'peer', 'name', far);
    ip('link', 'set', near, 'netns', client);
    ip('link', 'set', far, 'netns', pod);
    ip('-n', client, 'addr', 'add', `10.${203 + n}.0.1/24`, 'dev', near);
    ip('-n', pod, 'addr', 'add', `${POD_ADDRESS[pod]}/24`, 'dev', far);
    ip('-n', client, 'link', 'set', near, 'up');
    ip('-n', pod, 'link', 'set', far, 'up');
  }

  const APP = `const http = require('http'), net = require('net');
  http.createServer((q, s) => s.end('ok')).listen(8080, '0.0.0.0');
  net.createServer((s) => { s.setNoDelay(true); s.pipe(s); }).listen(9000, '0.0.0.0');`;
  for (const pod of [direct, onDemand]) children.push(spawn('ip', ['netns', 'exec', pod, 'taskset', '-c', '0', process.execPath, '-e', APP]));
  const dir = mkdtempSync(join(tmpdir(), 'faultline-bench-'));
  chmodSync(dir, 0o755);
  const policy = join(dir, 'policy.yaml');
  writeFileSync(policy, 'apiVersion: faultline.dev/v1alpha1\nkind: FaultPolicy\nmetadata: {name: bench}\nspec:\n  rules:\n    - {name: never, match: {ports: [1]}, faults: [{type: latency, latency: 1s}]}\n');
  chmodSync(policy, 0o644);
  const env = { ...process.env, FAULTLINE_LOG_LEVEL: 'warn', HOME: '/tmp' };
  children.push(
    spawn('ip', ['netns', 'exec', direct, 'taskset', '-c', '0', 'setpriv', '--reuid', '1337', '--regid', '1337', '--clear-groups', process.execPath, sidecarCli(), 'sidecar', '--policy', policy, '--inbound-port', '15006', '--outbound-port', '15001', '--metrics', '127.0.0.1:15020', '--admin', '127.0.0.1:15000'], { env }),
  );
  // The on-demand sidecar starts as root (its helper keeps root, the proxy drops to 1337), its
  // policy without a fault; its policy file belongs to the proxy user.
  const onDemandPolicy = join(dir, 'on-demand.yaml');
  const tokenFile = join(dir, 'token');
  writeFileSync(onDemandPolicy, POLICY(false));
  writeFileSync(tokenFile, TOKEN);
  execFileSync('chown', ['1337:1337', onDemandPolicy, tokenFile, dir]);
  children.push(
    spawn(
      'ip',
      ['netns', 'exec', onDemand, 'taskset', '-c', '0', process.execPath, sidecarCli(), 'sidecar', '--policy', onDemandPolicy, '--interception', 'on-demand', '--inbound-port', '15106', '--outbound-port', '15101', '--metrics', '127.0.0.1:15120', '--admin', '127.0.0.1:15100', '--admin-token-file', tokenFile],
      { env },
    ),
  );
  // Both sidecars ready (their /readyz answers 200), however long they take to start (from a
  // source checkout, through tsx, several seconds on a busy machine): at most 60 s.
  for (const [pod, port] of [[direct, 15020], [onDemand, 15120]] as const) {
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

  // One client process for the whole run, a sample per line on its stdin ("pair" or "direct");
  // every sample opens new connections, so each sees the pods' rules as they are then. A pair
  // sample sends its requests and echoes to the two pods in turn (ABBA, so that neither is
  // always first), so both meet the same machine at the same moment: a figure of each pod is
  // taken over its own round trips (requests/s: its count over the time they took).
  const CLIENT = `const http = require('http'), net = require('net');
  const seconds = ${SECONDS}, echoes = ${ECHOES};
  const hosts = ${JSON.stringify([POD_ADDRESS[direct], POD_ADDRESS[onDemand]])};
  const order = (i, n) => (n === 1 ? 0 : [0, 1, 1, 0][i % 4]);
  const p50 = (xs) => { xs.sort((a, b) => a - b); return xs[Math.floor(xs.length / 2)] * 1000; };
  async function httpRate(n) {
    const agents = hosts.slice(0, n).map(() => new http.Agent({ keepAlive: true, maxSockets: 1 }));
    const lat = agents.map(() => []);
    const end = Date.now() + seconds * 1000 * n;
    for (let i = 0; Date.now() < end || i % 4; i++) {
      const k = order(i, n), t0 = performance.now();
      await new Promise((res, rej) => http.get({ host: hosts[k], port: 8080, agent: agents[k] }, (r) => { r.resume(); r.on('end', res); }).on('error', rej));
      lat[k].push(performance.now() - t0);
    }
    for (const a of agents) a.destroy();
    return lat.map((xs) => ({ rps: (xs.length * 1000) / xs.reduce((a, b) => a + b, 0), p50us: p50(xs) }));
  }
  async function echo(n) {
    const sockets = await Promise.all(hosts.slice(0, n).map((h) => new Promise((r) => { const s = net.connect(9000, h); s.setNoDelay(true); s.once('connect', () => r(s)); })));
    const lat = sockets.map(() => []); const msg = Buffer.alloc(64);
    for (let i = 0; i < echoes * n; i++) {
      const k = order(i, n), s = sockets[k], t0 = performance.now();
      await new Promise((r) => { let got = 0; const on = (d) => { got += d.length; if (got >= 64) { s.off('data', on); r(); } }; s.on('data', on); s.write(msg); });
      lat[k].push(performance.now() - t0);
    }
    for (const s of sockets) s.destroy();
    return lat.map(p50);
  }
  let queue = Promise.resolve();
  require('readline').createInterface({ input: process.stdin }).on('line', (line) => {
    const n = line.trim() === 'pair' ? 2 : 1;
    queue = queue.then(async () => { const h = await httpRate(n); const e = await echo(n); console.log(JSON.stringify(h.map((x, k) => ({ ...x, echoP50us: e[k] })))); });
  }).on('close', () => queue.then(() => process.exit(0)));`;

  const clientProcess = spawn('ip', ['netns', 'exec', client, 'taskset', '-c', '0', process.execPath, '-e', CLIENT], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(clientProcess);
  const lines = createInterface({ input: clientProcess.stdout as NodeJS.ReadableStream });
  const waiting: ((line: string) => void)[] = [];
  lines.on('line', (line) => waiting.shift()?.(line));
  const measure = (what: 'pair' | 'direct') =>
    new Promise<Figures[]>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the client sent no sample within 60 s')), 60_000);
      waiting.push((line) => (clearTimeout(timer), resolve(JSON.parse(line) as Figures[])));
      clientProcess.stdin?.write(`${what}\n`);
    });
  // `faultline iptables --cleanup` leaves the empty built-in nat chains (and so conntrack) in
  // place; the baseline is a namespace with no netfilter hook at all, like a pod before any rule.
  const pristine = () => {
    inNs(direct, [process.execPath, sidecarCli(), 'iptables', '--cleanup']);
    for (const chain of ['PREROUTING', 'OUTPUT', 'INPUT', 'POSTROUTING']) {
      try {
        inNs(direct, ['iptables', '-t', 'nat', '-X', chain]);
      } catch {
        // absent, or not empty: then it is someone else's and stays
      }
    }
  };
  const admin = (method: string, path: string, body?: unknown) =>
    inNs(onDemand, ['curl', '-sf', '-X', method, '-H', `authorization: Bearer ${TOKEN}`, '-H', 'content-type: application/json', ...(body ? ['--data', JSON.stringify(body)] : []), `http://127.0.0.1:15100${path}`]);
  /** Until the on-demand sidecar reports its rules removed (at most 5 s). */
  const rulesGone = () => {
    for (let i = 0; i < 50; i++) {
      const state = (JSON.parse(admin('GET', '/policy').toString()) as { interception?: { installed?: boolean } }).interception;
      if (state?.installed === false) return;
      execFileSync('sleep', ['0.1']);
    }
    throw new Error('the on-demand sidecar still reported its rules installed after 5 s');
  };
  const faultComesAndGoes = () => {
    admin('POST', '/rules', { name: 'visit', match: { direction: 'inbound', ports: [8080] }, faults: [{ type: 'latency', latency: '1s' }] });
    admin('DELETE', '/rules/visit');
    rulesGone();
  };

  const runs: Record<'intercepted' | 'direct' | 'onDemand', Figures[]> = { intercepted: [], direct: [], onDemand: [] };
  /** On-demand over direct in each sample: both measured in turn, request by request. */
  const pairs: { rps: number[]; p50us: number[]; echoP50us: number[] } = { rps: [], p50us: [], echoP50us: [] };
  pristine();
  for (let round = 0; round < ROUNDS; round++) {
    // The `always` path every fourth round: installing its rules takes a while.
    if (round % 4 === 0) {
      inNs(direct, [process.execPath, sidecarCli(), 'iptables']);
      runs.intercepted.push(...(await measure('direct')));
      pristine();
    }
    // A fault comes and goes on the on-demand pod; the measurement is of the state it leaves.
    // The work of that change (curl, the sidecar, its root helper's iptables-restore) is done
    // a second later.
    faultComesAndGoes();
    execFileSync('sleep', ['1']);
    const [d, o] = (await measure('pair')) as [Figures, Figures];
    runs.direct.push(d);
    runs.onDemand.push(o);
    for (const k of ['rps', 'p50us', 'echoP50us'] as const) pairs[k].push(o[k] / d[k]);
  }
  clientProcess.stdin?.end();
  const changes = JSON.parse(inNs(onDemand, ['setpriv', '--reuid', '1337', '--regid', '1337', '--clear-groups', process.execPath, '-e', CHANGES(onDemandPolicy, quick ? 3 : 8)]).trim()) as Record<'fileInstall' | 'fileRemove' | 'apiInstall' | 'apiRemove', number[]>;
  const mid = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  const summary = (k: keyof typeof runs): Figures => ({ rps: mid(runs[k].map((r) => r.rps)), p50us: mid(runs[k].map((r) => r.p50us)), echoP50us: mid(runs[k].map((r) => r.echoP50us)) });
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
  buildCompiledCli();
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
  if (q) console.log(`on-demand / direct, one ratio per sample (${q.rps.n} samples), median [min-max]: req/s ${range(q.rps)}, HTTP p50 ${range(q.p50us)}, echo p50 ${range(q.echoP50us)}`);
  const c = r.onDemandChange;
  if (c) {
    console.log(`policy change -> on-demand rules, ${c.changes} changes each: file install median ${c.fileInstallMedianMs} ms / max ${c.fileInstallMaxMs} ms, file removal median ${c.fileRemoveMedianMs} ms; admin API install median ${c.apiInstallMedianMs} ms / max ${c.apiInstallMaxMs} ms, removal median ${c.apiRemoveMedianMs} ms`);
  }
  process.exit(0);
}
