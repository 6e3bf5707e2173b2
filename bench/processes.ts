/**
 * Every process a bench run starts, and the guarantee that none outlives the run, however the
 * run ends: a clean exit, an error, Ctrl-C, or a kill of the runner (even SIGKILL).
 *
 * Each child starts in a process group of its own (so that what it starts in turn, such as the
 * origins' HAProxy, goes with it) and carries FAULTLINE_BENCH_RUN in its environment. A reaper
 * process, started first and detached, holds a pipe from the runner: when the runner is gone the
 * pipe closes, and the reaper kills every group it was told about and deletes every network
 * namespace it was told about. On an ordinary exit the runner does the same itself first.
 */
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import type { Writable } from 'node:stream';

/** The environment variable every process of a run carries: its value names the run. */
export const RUN_MARKER = 'FAULTLINE_BENCH_RUN';

const REAPER = `
const { execFileSync } = require('node:child_process');
for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(s, () => {});
const groups = new Set(), namespaces = new Set();
let text = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => {
  text += d;
  for (let i; (i = text.indexOf('\\n')) >= 0; text = text.slice(i + 1)) {
    const [kind, value] = text.slice(0, i).split(' ');
    if (kind === 'group') groups.add(Number(value));
    else if (kind === 'ungroup') groups.delete(Number(value));
    else if (kind === 'netns') namespaces.add(value);
    else if (kind === 'unnetns') namespaces.delete(value);
  }
});
const reap = () => {
  for (const pid of groups) { try { process.kill(-pid, 'SIGKILL'); } catch {} }
  for (const ns of namespaces) { try { execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' }); } catch {} }
  process.exit(0);
};
process.stdin.on('end', reap);
process.stdin.on('error', reap);
`;

class BenchProcesses {
  readonly run = process.env[RUN_MARKER] ?? randomUUID();
  private readonly children = new Set<ChildProcess>();
  private readonly namespaces = new Set<string>();
  private reaper: Writable | undefined;
  private hooked = false;

  /** Starts `command` in a process group of its own, with the run's marker, watched by the reaper. */
  spawn(command: string, args: string[], options: SpawnOptions = {}): ChildProcess {
    this.hook();
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options, detached: true, env: { ...process.env, ...options.env, [RUN_MARKER]: this.run } });
    const pid = child.pid;
    if (pid !== undefined) {
      this.children.add(child);
      this.tell(`group ${pid}`);
      child.once('exit', () => {
        this.children.delete(child);
        // Its group may hold what it started: gone with it.
        kill(pid);
        this.tell(`ungroup ${pid}`);
      });
    }
    return child;
  }

  /** A network namespace the run made: deleted when the run ends if it was not already. */
  netns(name: string): void {
    this.hook();
    this.namespaces.add(name);
    this.tell(`netns ${name}`);
  }

  /** The namespace was deleted. */
  netnsGone(name: string): void {
    this.namespaces.delete(name);
    this.tell(`unnetns ${name}`);
  }

  /** Kills every process group of the run and deletes its namespaces, now. */
  stopAll(): void {
    for (const child of this.children) if (child.pid !== undefined) kill(child.pid);
    this.children.clear();
    for (const ns of this.namespaces) {
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
      } catch {
        // already gone
      }
    }
    this.namespaces.clear();
  }

  private tell(line: string): void {
    this.reaper?.write(`${line}\n`);
  }

  private hook(): void {
    if (this.hooked) return;
    this.hooked = true;
    // Not through this.spawn: the reaper must not be in a group it kills, nor killed at exit.
    const reaper = spawn(process.execPath, ['-e', REAPER], { stdio: ['pipe', 'ignore', 'ignore'], detached: true, env: { ...process.env, [RUN_MARKER]: this.run } });
    reaper.unref();
    const stdin = reaper.stdin as Writable & { unref?: () => void };
    stdin.on('error', () => {});
    // The pipe must not keep the runner alive; the runner's exit closes it.
    (stdin as unknown as { _handle?: { unref(): void } })._handle?.unref();
    this.reaper = stdin;
    process.on('exit', () => this.stopAll());
    for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]] as const) {
      process.on(signal, () => {
        process.stderr.write(`\nbench: ${signal}, stopping every process of the run\n`);
        process.exit(code);
      });
    }
  }
}

function kill(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // the group is gone
  }
}

/** The processes of this bench run (one per runner process). */
export const processes = new BenchProcesses();
