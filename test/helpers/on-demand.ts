import { execFileSync } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Test } from 'tap';
import { sleep } from './net.js';
import { echoProbe, nsExec, nsSpawn, threeHosts } from './netns.js';
import { BIN } from './process.js';
import { policyText, tempDir } from './sidecar.js';

/** Whether `nft` is installed (to check that no netfilter hook is left). */
export const hasNft = (() => {
  try {
    execFileSync('nft', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
export const TOKEN = 'on-demand-test-token';
const ECHO = (host: string, ports: number[]) =>
  `const net = require('net'); for (const p of ${JSON.stringify(ports)}) net.createServer((s) => { s.on('error', () => {}); s.pipe(s); }).listen(p, '${host}');`;

/** Polls `check` every 50 ms for up to `ms` (a throw counts as not yet); resolves whether it held. */
export async function until(check: () => boolean, ms = 5000): Promise<boolean> {
  for (const deadline = Date.now() + ms; Date.now() < deadline; await sleep(50)) {
    try {
      if (check()) return true;
    } catch {
      // not yet
    }
  }
  return false;
}

/**
 * Three namespaces (client — pod — remote, see threeHosts) with echo servers on the pod (8080,
 * 8081) and the remote (9090), a policy file, the pod's iptables and admin API, and on-demand
 * sidecars started in the pod as root, as their container starts them.
 */
export function podFixture(t: Test) {
  const hosts = threeHosts(t);
  const dir = tempDir(t);
  chmodSync(dir, 0o755);
  const policy = join(dir, 'policy.yaml');
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, TOKEN, { mode: 0o644 });
  const write = (rules: string | undefined, extra?: string) => {
    writeFileSync(policy, policyText({ listeners: [], rules, extra }));
    chmodSync(policy, 0o644);
  };
  nsSpawn(t, hosts.remote, [process.execPath, '-e', ECHO('10.202.0.2', [9090])]);
  nsSpawn(t, hosts.pod, [process.execPath, '-e', ECHO('0.0.0.0', [8080, 8081])]);
  const inPod = (args: string[]) => nsExec(hosts.pod, args);
  const nat = () => inPod(['iptables', '-t', 'nat', '-S']);
  const filter = () => inPod(['iptables', '-t', 'filter', '-S']);
  const admin = (method: string, path: string, body?: unknown) => {
    const args = ['curl', '-s', '-X', method, '-H', `authorization: Bearer ${TOKEN}`, '-w', '\n%{http_code}', `http://127.0.0.1:15000${path}`];
    if (body !== undefined) args.push('-H', 'content-type: application/json', '--data', JSON.stringify(body));
    const [text = '', code = ''] = inPod(args).split(/\n(?=\d+$)/);
    return { status: Number(code), json: text ? (JSON.parse(text) as Record<string, any>) : undefined };
  };
  const metric = (name: string) => {
    const m = new RegExp(`^${name.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(inPod(['curl', '-sf', 'http://127.0.0.1:15020/metrics']));
    return m ? Number(m[1]) : undefined;
  };
  /** Starts an on-demand sidecar as root (as its container does) and waits until it is ready. */
  const start = async (t: Test, lease = '3s') => {
    const sidecar = nsSpawn(
      t,
      hosts.pod,
      [process.execPath, BIN, 'sidecar', '--policy', policy, '--interception', 'on-demand', '--interception-lease', lease, '--metrics', '0.0.0.0:15020', '--admin-token-file', tokenFile],
      { FAULTLINE_LOG_LEVEL: 'info', HOME: '/tmp' },
    );
    const ready = await until(() => inPod(['curl', '-sf', 'http://127.0.0.1:15020/readyz']).includes('ready'), 20_000);
    if (!ready) throw new Error(`the on-demand sidecar did not become ready:\n${sidecar.output()}`);
    const children = readFileSync(`/proc/${sidecar.pid}/task/${sidecar.pid}/children`, 'utf8').trim().split(/\s+/).map(Number);
    const helper = children[0] as number;
    t.teardown(() => {
      try {
        process.kill(helper, 'SIGKILL');
      } catch {
        // gone
      }
    });
    return { sidecar, helper };
  };
  return { ...hosts, policy, write, inPod, nat, filter, admin, metric, start };
}

/** An echo probe that went direct (well under any injected latency). */
export const fast = (r: ReturnType<typeof echoProbe>) => 'medianMs' in r && r.medianMs < 50;
/** An echo probe delayed by `ms`, within a tolerance that can fail. */
export const delayed = (r: ReturnType<typeof echoProbe>, ms: number) => 'medianMs' in r && r.medianMs >= ms - 5 && r.medianMs < ms + 100;
export const status = (pid: number) => readFileSync(`/proc/${pid}/status`, 'utf8');
