import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';

export const BIN = fileURLToPath(new URL('../../bin/faultline.js', import.meta.url));

/** Runs `faultline ARGS` to completion; resolves with its exit code and output. */
export function runCli(args: string[], options: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...options.env }, timeout: options.timeoutMs ?? 60_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A long-running `faultline` process; killed at teardown. Its JSON log lines are kept. */
export interface Daemon {
  child: ChildProcess;
  lines: Record<string, unknown>[];
  /** Resolves with the first log line `match` accepts (or rejects after `ms`). */
  waitForLine(match: (line: Record<string, unknown>) => boolean, ms?: number): Promise<Record<string, unknown>>;
  exited: Promise<number | null>;
  rssKiB(): number;
}

/** `wrapper`: an executable that runs `faultline` with the arguments it gets (e.g. under a lower ulimit). */
export function startDaemon(t: Test, args: string[], env: NodeJS.ProcessEnv = {}, options: { wrapper?: string } = {}): Daemon {
  const child = spawn(options.wrapper ?? process.execPath, options.wrapper ? args : [BIN, ...args], { env: { ...process.env, FAULTLINE_LOG_LEVEL: 'debug', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Record<string, unknown>[] = [];
  const waiters: { match: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }[] = [];
  let buffered = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const text = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      let line: Record<string, unknown>;
      try {
        line = JSON.parse(text) as Record<string, unknown>;
      } catch {
        line = { msg: text };
      }
      lines.push(line);
      for (const w of [...waiters]) if (w.match(line)) (waiters.splice(waiters.indexOf(w), 1), w.resolve(line));
    }
  });
  child.stderr?.on('data', (chunk: Buffer) => lines.push({ stderr: chunk.toString() }));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  return {
    child,
    lines,
    exited,
    waitForLine(match, ms = 15_000) {
      const found = lines.find(match);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching log line in ${ms} ms; got:\n${lines.map((l) => JSON.stringify(l)).join('\n')}`)), ms);
        waiters.push({ match, resolve: (l) => (clearTimeout(timer), resolve(l)) });
      });
    },
    rssKiB() {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
    },
  };
}

/** The port from a "listening" log line of the named listener. */
export async function listenerPort(daemon: Daemon, name: string): Promise<number> {
  const line = await daemon.waitForLine((l) => l.msg === 'listening' && (l.listener === name || l.component === name));
  return Number(String(line.address).split(':').pop());
}
