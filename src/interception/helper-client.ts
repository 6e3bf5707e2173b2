import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { FaultlineError } from '../errors.js';
import type { Demand } from './demand.js';
import type { HelperHello, HelperReply, HelperRequest } from './helper.js';
import type { Installed } from './rule-keeper.js';

/** The faultline entry point; `faultline interception-helper` loads only the helper's modules. */
const BIN = fileURLToPath(new URL('../../bin/faultline.js', import.meta.url));

/** What the on-demand controller needs of whoever installs its rules (the root helper; a fake in tests). */
export interface RuleInstaller {
  /** Installs the demand (an empty one removes every rule that acts); resolves with what is installed. */
  apply(demand: Demand): Promise<Installed>;
  /** Deletes what no longer acts: the built-in filter chains left empty; with `nat`, the lingering redirect chains and the nat ones too. */
  prune(nat: boolean): Promise<Installed>;
}

const REQUEST_TIMEOUT_MS = 10_000;

/** The sidecar's end of the root helper (src/interception/helper.ts): requests over IPC, one reply each. */
export class InterceptionHelper implements RuleInstaller {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (reply: HelperReply) => void; reject: (err: Error) => void; timer: NodeJS.Timeout }>();

  private constructor(
    private readonly child: ChildProcess,
    readonly families: (4 | 6)[],
  ) {
    child.on('message', (message: HelperReply) => {
      const waiting = this.pending.get(message.id);
      if (!waiting) return;
      this.pending.delete(message.id);
      clearTimeout(waiting.timer);
      waiting.resolve(message);
    });
    child.once('exit', (code, signal) => {
      for (const { reject, timer } of this.pending.values()) {
        clearTimeout(timer);
        reject(new FaultlineError('FL_ERR_HELPER', `the interception helper exited (${signal ?? `code ${code}`})`));
      }
      this.pending.clear();
    });
  }

  /**
   * Starts the helper with `args` (validated interception flags) while this process still runs as
   * root; resolves once it removed any stale rules and is ready, rejects with its reason otherwise.
   */
  static start(args: string[], timeoutMs = 20_000): Promise<InterceptionHelper> {
    const child = fork(BIN, ['interception-helper', ...args], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] });
    return new Promise((resolve, reject) => {
      const fail = (message: string) => {
        clearTimeout(timer);
        if (child.exitCode === null) child.kill('SIGKILL');
        reject(new FaultlineError('FL_ERR_HELPER', `on-demand interception cannot start: ${message}`));
      };
      const timer = setTimeout(() => fail(`the interception helper did not answer within ${timeoutMs} ms`), timeoutMs);
      child.once('message', (hello: HelperHello) => {
        if (hello.type === 'fatal') return fail(hello.message);
        clearTimeout(timer);
        resolve(new InterceptionHelper(child, hello.families));
      });
      child.once('exit', (code, signal) => fail(`the interception helper exited (${signal ?? `code ${code}`})`));
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Lets the helper go: it removes every rule and exits (as when the sidecar dies). */
  close(): void {
    if (this.child.connected) this.child.disconnect();
  }

  /** Calls `listener` if the helper exits while the sidecar runs. */
  onExit(listener: (why: string) => void): void {
    this.child.once('exit', (code, signal) => listener(signal ?? `code ${code}`));
  }

  apply(demand: Demand): Promise<Installed> {
    return this.request({ type: 'apply', id: this.nextId++, demand });
  }

  prune(nat: boolean): Promise<Installed> {
    return this.request({ type: 'prune', id: this.nextId++, nat });
  }

  private request(request: HelperRequest): Promise<Installed> {
    return new Promise<HelperReply>((resolve, reject) => {
      if (!this.child.connected) return reject(new FaultlineError('FL_ERR_HELPER', 'the interception helper is gone'));
      const timer = setTimeout(() => {
        this.pending.delete(request.id);
        reject(new FaultlineError('FL_ERR_HELPER', `the interception helper did not answer within ${REQUEST_TIMEOUT_MS} ms`));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(request.id, { resolve, reject, timer });
      this.child.send(request);
    }).then((reply) => {
      if (!reply.ok) throw new FaultlineError('FL_ERR_IPTABLES', reply.error ?? 'the interception helper failed');
      return { rules: reply.rules ?? [], lingering: reply.lingering ?? [], leaseEnd: reply.leaseEnd ?? 0 };
    });
  }
}
