import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { RUN_MARKER } from '../../bench/processes.js';
import { sleep } from './net.js';

export const RUN = fileURLToPath(new URL('../../bench/run.ts', import.meta.url));
export const FAKE_TOXIPROXY = fileURLToPath(new URL('../fixtures/bench/toxiproxy-server', import.meta.url));

/** A bench run (`bench/run.ts ARGS`) under a run id of the test's own, so that its processes can be found. */
export interface BenchRun {
  id: string;
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or the signal's name). */
  exited: Promise<number | string>;
  /** Resolves once stderr shows `text`. */
  waitFor(text: string, ms?: number): Promise<void>;
}

export function startBench(args: string[]): BenchRun {
  const id = `test-${randomUUID()}`;
  const child = spawn(process.execPath, ['--import', 'tsx', RUN, ...args], { env: { ...process.env, [RUN_MARKER]: id }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d));
  child.stderr?.on('data', (d: Buffer) => (stderr += d));
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  return {
    id,
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    async waitFor(text, ms = 60_000) {
      const end = Date.now() + ms;
      while (!stderr.includes(text)) {
        if (Date.now() > end || child.exitCode !== null) throw new Error(`"${text}" never came; stderr: ${stderr.slice(-300)}`);
        await sleep(50);
      }
    },
  };
}

/** The processes whose environment carries the run's id, with their command lines. */
export function processesOf(id: string): { pid: number; cmd: string }[] {
  const found: { pid: number; cmd: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (!readFileSync(`/proc/${entry}/environ`, 'latin1').split('\0').includes(`${RUN_MARKER}=${id}`)) continue;
      found.push({ pid: Number(entry), cmd: readFileSync(`/proc/${entry}/cmdline`, 'latin1').replace(/\0/g, ' ').trim().slice(0, 160) });
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found;
}

/** Waits until no process of the run is left (or `ms` passed); returns what is left. */
export async function leftOf(id: string, ms = 10_000): Promise<{ pid: number; cmd: string }[]> {
  const end = Date.now() + ms;
  for (;;) {
    const left = processesOf(id).filter((p) => !isZombie(p.pid));
    if (left.length === 0 || Date.now() > end) return left;
    await sleep(100);
  }
}

function isZombie(pid: number): boolean {
  try {
    return / Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8').split(')')[1] ?? '');
  } catch {
    return true;
  }
}
