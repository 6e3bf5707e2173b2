/**
 * Transparent interception vs none, in network namespaces, in one run: a client namespace sends
 * HTTP/1.1 keep-alive requests (one connection, sequential) and 64-byte echo round trips to an
 * app in a "pod" namespace, first with faultline's iptables rules and sidecar (no fault active),
 * then without, alternating for 3 rounds. Needs root, ip and iptables.
 *
 *   node --import tsx bench/transparent.ts [--quick]
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface TransparentResult {
  direct: { rps: number; p50us: number; echoP50us: number };
  intercepted: { rps: number; p50us: number; echoP50us: number };
}

/** Runs the comparison; needs root, ip, iptables and setpriv. */
export async function measureTransparent(quick: boolean): Promise<TransparentResult> {
  const SECONDS = quick ? 2 : 5;
  const BIN = fileURLToPath(new URL('../bin/faultline.js', import.meta.url));
  const id = String(process.pid % 100000);
  const [client, pod] = [`fbc${id}`, `fbp${id}`];
  const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
  const inNs = (ns: string, args: string[]) => execFileSync('ip', ['netns', 'exec', ns, ...args], { encoding: 'utf8' });
  const children: ChildProcess[] = [];
  const cleanup = () => {
    for (const c of children) c.kill('SIGKILL');
    for (const ns of [client, pod]) {
      try {
        ip('netns', 'del', ns);
      } catch {
        // gone
      }
    }
  };
  process.on('exit', cleanup);

  for (const ns of [client, pod]) {
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
  children.push(spawn('ip', ['netns', 'exec', pod, 'taskset', '-c', '0', process.execPath, '-e', APP], { stdio: 'inherit' }));
  const dir = mkdtempSync(join(tmpdir(), 'faultline-bench-'));
  chmodSync(dir, 0o755);
  const policy = join(dir, 'policy.yaml');
  writeFileSync(policy, 'apiVersion: faultline.dev/v1alpha1\nkind: FaultPolicy\nmetadata: {name: bench}\nspec:\n  rules:\n    - {name: never, match: {ports: [1]}, faults: [{type: latency, latency: 1s}]}\n');
  chmodSync(policy, 0o644);
  children.push(
    spawn('ip', ['netns', 'exec', pod, 'taskset', '-c', '0', 'setpriv', '--reuid', '1337', '--regid', '1337', '--clear-groups', process.execPath, BIN, 'sidecar', '--policy', policy, '--inbound-port', '15006', '--outbound-port', '15001', '--metrics', '127.0.0.1:15020'], {
      env: { ...process.env, FAULTLINE_LOG_LEVEL: 'warn', HOME: '/tmp' },
      stdio: 'inherit',
    }),
  );
  await new Promise((r) => setTimeout(r, 3000));

  const CLIENT = `const http = require('http'), net = require('net');
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const seconds = ${SECONDS};
  async function httpRate() {
    const end = Date.now() + seconds * 1000; let n = 0; const lat = [];
    while (Date.now() < end) {
      const t0 = performance.now();
      await new Promise((res, rej) => http.get({ host: '10.203.0.2', port: 8080, agent }, (r) => { r.resume(); r.on('end', res); }).on('error', rej));
      lat.push(performance.now() - t0); n++;
    }
    lat.sort((a, b) => a - b);
    return { rps: n / seconds, p50us: lat[Math.floor(lat.length / 2)] * 1000 };
  }
  async function echo() {
    const s = net.connect(9000, '10.203.0.2'); s.setNoDelay(true); await new Promise((r) => s.once('connect', r));
    const lat = []; const msg = Buffer.alloc(64);
    for (let i = 0; i < ${quick ? 2000 : 10000}; i++) {
      const t0 = performance.now();
      await new Promise((r) => { let got = 0; const on = (d) => { got += d.length; if (got >= 64) { s.off('data', on); r(); } }; s.on('data', on); s.write(msg); });
      lat.push(performance.now() - t0);
    }
    s.destroy(); lat.sort((a, b) => a - b); return lat[Math.floor(lat.length / 2)] * 1000;
  }
  (async () => { const h = await httpRate(); const e = await echo(); console.log(JSON.stringify({ ...h, echoP50us: e })); process.exit(0); })();`;

  const measure = () => JSON.parse(inNs(client, ['taskset', '-c', '0', process.execPath, '-e', CLIENT]).trim()) as { rps: number; p50us: number; echoP50us: number };
  const runs: Record<'intercepted' | 'direct', { rps: number; p50us: number; echoP50us: number }[]> = { intercepted: [], direct: [] };
  for (let round = 0; round < 3; round++) {
    inNs(pod, [process.execPath, BIN, 'iptables']);
    runs.intercepted.push(measure());
    inNs(pod, [process.execPath, BIN, 'iptables', '--cleanup']);
    runs.direct.push(measure());
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[1] as number;
  const summary = (k: 'intercepted' | 'direct') => ({ rps: median(runs[k].map((r) => r.rps)), p50us: median(runs[k].map((r) => r.p50us)), echoP50us: median(runs[k].map((r) => r.echoP50us)) });
  cleanup();
  children.length = 0;
  return { direct: summary('direct'), intercepted: summary('intercepted') };
}

if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { direct: d, intercepted: i } = await measureTransparent(process.argv.includes('--quick'));
  console.log('placement: client, app and sidecar on cpu 0; 3 rounds alternating, medians; no fault active');
  console.log(`direct:      ${d.rps.toFixed(0)} req/s, HTTP p50 ${d.p50us.toFixed(0)} us, echo p50 ${d.echoP50us.toFixed(0)} us`);
  console.log(`intercepted: ${i.rps.toFixed(0)} req/s, HTTP p50 ${i.p50us.toFixed(0)} us, echo p50 ${i.echoP50us.toFixed(0)} us`);
  console.log(`ratios (intercepted / direct): req/s ${(i.rps / d.rps).toFixed(2)}x, HTTP p50 ${(i.p50us / d.p50us).toFixed(2)}x, echo p50 ${(i.echoP50us / d.echoP50us).toFixed(2)}x`);
  process.exit(0);
}
