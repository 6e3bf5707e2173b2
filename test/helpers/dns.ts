import { execFileSync, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import type { Test } from 'tap';
import { sleep } from './net.js';

/**
 * Why the DNS tests cannot run here (dnsmasq from dnsmasq-base, dig from bind9-dnsutils
 * missing), or false. Under CI (`CI=true`) always false: a missing tool fails the run.
 */
export function canUseDnsTools(): string | false {
  if (process.env.CI === 'true') return false;
  for (const tool of ['dnsmasq', 'dig']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      return `needs ${tool}`;
    }
  }
  return false;
}

/** A port free for both UDP and TCP on 127.0.0.1 right now (dnsmasq takes no port 0). */
export async function freeDualPort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const udp = createSocket('udp4');
    const port = await new Promise<number>((resolve) => udp.bind(0, '127.0.0.1', () => resolve(udp.address().port)));
    const ok = await new Promise<boolean>((resolve) => {
      const tcp = createServer();
      tcp.once('error', () => resolve(false));
      tcp.listen(port, '127.0.0.1', () => tcp.close(() => resolve(true)));
    });
    udp.close();
    if (ok) return port;
  }
  throw new Error('no free port for dnsmasq');
}

/** The records every test resolver serves (dnsmasq's own, authoritative, never forwarded). */
export const RECORDS = [
  '--host-record=api.example.test,10.1.2.3,fd00::1:2:3',
  '--host-record=db.payments.svc.cluster.local,10.9.0.7',
  '--host-record=other.example.test,10.1.2.4',
  '--srv-host=_http._tcp.example.test,api.example.test,8080',
  '--txt-record=txt.example.test,"hello"',
];

/**
 * Debian's dnsmasq on `address`:port (loopback, or inside a namespace through `wrap`), serving
 * RECORDS and answering NXDOMAIN for the rest (no upstream: `--no-resolv`). `queries()` counts
 * the queries it logged, to tell what reached it. Killed at teardown.
 */
export async function startDnsmasq(t: Test, options: { address?: string; port?: number; wrap?: string[] } = {}): Promise<{ port: number; address: string; queries: () => number }> {
  const address = options.address ?? '127.0.0.1';
  const port = options.port ?? (await freeDualPort());
  const args = ['dnsmasq', '--no-daemon', '--no-resolv', '--no-hosts', '--no-poll', `--port=${port}`, `--listen-address=${address}`, '--bind-interfaces', '--log-queries', '--log-facility=-', '--pid-file=', '--user=root', ...RECORDS, '--address=/nx.example.test/'];
  const [bin, ...rest] = [...(options.wrap ?? []), ...args] as [string, ...string[]];
  const child = spawn(bin, rest, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d));
  child.stderr.on('data', (d: Buffer) => (output += d));
  t.teardown(() => void child.kill('SIGKILL'));
  for (let i = 0; i < 100 && !/started, version/.test(output); i++) await sleep(20);
  if (!/started, version/.test(output)) throw new Error(`dnsmasq did not start:\n${output}`);
  await sleep(50);
  return { port, address, queries: () => (output.match(/: query\[/g) ?? []).length };
}

/** Runs `dig` (bind9-dnsutils) without blocking the event loop (the proxy under test runs in this process). */
export async function dig(args: string[]): Promise<string> {
  const { execFile } = await import('node:child_process');
  return new Promise((resolve) => execFile('dig', args, { timeout: 15_000 }, (_err, stdout) => resolve(stdout)));
}

/** The status and the answer records (`NAME TTL IN TYPE DATA` lines) of a dig answer. */
export function digAnswer(output: string): { status: string | undefined; records: string[] } {
  const status = /status: (\w+)/.exec(output)?.[1];
  const section = /;; ANSWER SECTION:\n([\s\S]*?)\n\n/.exec(output)?.[1] ?? '';
  return { status, records: section.split('\n').filter(Boolean).map((l) => l.split(/\s+/).join(' ')) };
}

/** A node:dns Resolver (c-ares) asking only 127.0.0.1:port, once, with its own timeout. */
export async function resolverFor(port: number, timeoutMs = 1000): Promise<import('node:dns').promises.Resolver> {
  const { promises } = await import('node:dns');
  const resolver = new promises.Resolver({ timeout: timeoutMs, tries: 1 });
  resolver.setServers([`127.0.0.1:${port}`]);
  return resolver;
}

/**
 * Points namespace `ns`'s resolver at `nameserver`: `ip netns exec` bind-mounts
 * /etc/netns/NS/resolv.conf over /etc/resolv.conf for what it runs. Removed at teardown.
 */
export async function namespaceResolver(t: Test, ns: string, nameserver: string): Promise<void> {
  const { mkdirSync, rmSync, writeFileSync } = await import('node:fs');
  const dir = `/etc/netns/${ns}`;
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${dir}/resolv.conf`, `nameserver ${nameserver}\noptions timeout:1 attempts:1\n`);
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
}
