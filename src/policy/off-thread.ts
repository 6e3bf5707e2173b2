import { Worker, type WorkerOptions } from 'node:worker_threads';
import { FaultlineError, PolicyError } from '../errors.js';
import { faultRegistry } from '../faults/index.js';
import type { PolicyProblem } from '../errors.js';
import { validateEffective, type EffectiveInput, type EffectivePolicy } from './effective.js';
import type { CommonFaultFields, PolicyDocument } from './schema.js';

/**
 * Policies up to this size are validated on the event loop (a few milliseconds); larger ones in a
 * worker thread, where the YAML parser's and the schema's seconds for a ConfigMap-sized policy
 * hold no connection.
 */
export const OFF_THREAD_MIN_BYTES = 16 * 1024;
/** An idle validation thread ends after this long (it costs about 20 MiB while it lives). */
const IDLE_MS = 30_000;
/** The validation thread's heap cap: a hostile policy cannot take the sidecar's memory. */
const WORKER_HEAP_MB = 192;

/** What the validation thread answers, as plain data. */
export type WorkerAnswer =
  | { kind: 'valid'; doc: PolicyDocument; faults: { type: string; common: CommonFaultFields; options: object }[][]; text: string; source: string }
  | { kind: 'invalid'; file: string; problems: PolicyProblem[] }
  | { kind: 'failed'; message: string }
  /** The validated policy holds values a message cannot carry as they are: validated again on the event loop. */
  | { kind: 'not-plain' };

/** Rules per message: each message is decoded in a turn of its own on the event loop, a few ms at most. */
const RULES_PER_MESSAGE = 200;

/** Part of a validated policy's rules, sent ahead of its answer. */
export interface RuleChunk {
  rules: PolicyDocument['spec']['rules'];
  faults: Extract<WorkerAnswer, { kind: 'valid' }>['faults'];
}

/**
 * The answer for a validated policy, its rules in chunks sent first (the answer's own document
 * has none): fault types by name, everything else plain data.
 */
export function toTransferable({ validated, text, source }: EffectivePolicy): { chunks: RuleChunk[]; answer: WorkerAnswer } {
  const faults = validated.faults.map((list) => list.map((f) => ({ type: f.type.type, common: f.common, options: f.options })));
  if (!isPlainData(validated.doc) || !isPlainData(faults)) return { chunks: [], answer: { kind: 'not-plain' } };
  const { rules } = validated.doc.spec;
  const chunks: RuleChunk[] = [];
  for (let i = 0; i < rules.length; i += RULES_PER_MESSAGE) chunks.push({ rules: rules.slice(i, i + RULES_PER_MESSAGE), faults: faults.slice(i, i + RULES_PER_MESSAGE) });
  const doc = { ...validated.doc, spec: { ...validated.doc.spec, rules: [] } };
  return { chunks, answer: { kind: 'valid', doc, faults: [], text, source } };
}

/** Objects of Object or Array (or no) prototype, strings, numbers, booleans, null, undefined. */
function isPlainData(value: unknown, depth = 0): boolean {
  if (value === null || value === undefined) return true;
  const type = typeof value;
  if (type === 'string' || type === 'number' || type === 'boolean') return true;
  if (type !== 'object' || depth > 100) return false;
  if (Array.isArray(value)) return value.every((v) => isPlainData(v, depth + 1));
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return false;
  return Object.values(value as object).every((v) => isPlainData(v, depth + 1));
}

function fromTransferable(answer: Extract<WorkerAnswer, { kind: 'valid' }>, chunks: readonly RuleChunk[]): EffectivePolicy {
  const doc = { ...answer.doc, spec: { ...answer.doc.spec, rules: chunks.flatMap((c) => c.rules) } };
  const faults = chunks.flatMap((c) => c.faults).map((list) =>
    list.map((f) => {
      const type = faultRegistry.get(f.type);
      if (!type) throw new Error(`fault type ${f.type} is not registered`);
      return { entry: undefined, type, common: f.common, options: f.options };
    }),
  );
  return { validated: { doc, faults }, text: answer.text, source: answer.source };
}

/**
 * The worker, as the sidecar runs: its compiled JavaScript, or in a checkout its TypeScript
 * through tsx (registered in the thread itself: a worker's entry is loaded before `--import`s).
 */
function startWorker(options: WorkerOptions): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./validate-worker.js', import.meta.url), options);
  const entry = new URL('./validate-worker.ts', import.meta.url).href;
  const code = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(code, { ...options, eval: true });
}

interface Waiting {
  input: EffectiveInput;
  chunks: RuleChunk[];
  resolve: (policy: EffectivePolicy) => void;
  reject: (err: unknown) => void;
}

/**
 * Validates effective policies (src/policy/effective.ts), the large ones in a worker thread that
 * lives while it is used. If the thread cannot run, they are validated on the event loop.
 */
export class PolicyValidator {
  private worker: Worker | undefined;
  private idle: NodeJS.Timeout | undefined;
  private nextId = 0;
  private readonly waiting = new Map<number, Waiting>();

  /** Resolves with the validated policy; rejects with PolicyError listing its problems. */
  validate(input: EffectiveInput): Promise<EffectivePolicy> {
    if (sizeOf(input) <= OFF_THREAD_MIN_BYTES) return inThread(input);
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      this.waiting.set(id, { input, chunks: [], resolve, reject });
      clearTimeout(this.idle);
      this.thread().postMessage({ id, input });
    });
  }

  /** Ends the thread (pending validations finish on the event loop). */
  close(): void {
    clearTimeout(this.idle);
    const worker = this.worker;
    this.worker = undefined;
    void worker?.terminate();
    this.fallBack();
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    const worker = startWorker({ resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB } });
    worker.unref();
    worker.on('message', ({ id, chunk, answer }: { id: number; chunk?: RuleChunk; answer?: WorkerAnswer }) => {
      if (answer) return this.answered(id, answer);
      const waiting = this.waiting.get(id);
      if (!chunk || !waiting) return;
      waiting.chunks.push(chunk);
      // The next chunk in a turn of its own.
      setImmediate(() => this.worker?.postMessage({ id, pull: true }));
    });
    worker.on('error', (err: Error & { code?: string }) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      if (err.code === 'ERR_WORKER_OUT_OF_MEMORY') {
        for (const [id, { input, reject }] of this.waiting) {
          this.waiting.delete(id);
          reject(new PolicyError(input.source, [{ path: [], line: 1, col: 1, message: `validating this policy took more than ${WORKER_HEAP_MB} MiB: not a policy`, code: 'FL_ERR_POLICY_TOO_LARGE' }]));
        }
      }
      this.fallBack();
    });
    worker.on('exit', () => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      this.fallBack();
    });
    this.worker = worker;
    return worker;
  }

  private answered(id: number, answer: WorkerAnswer): void {
    const waiting = this.waiting.get(id);
    if (!waiting) return;
    this.waiting.delete(id);
    if (this.waiting.size === 0) {
      this.idle = setTimeout(() => this.close(), IDLE_MS);
      this.idle.unref();
    }
    if (answer.kind === 'valid') waiting.resolve(fromTransferable(answer, waiting.chunks));
    else if (answer.kind === 'invalid') waiting.reject(new PolicyError(answer.file, answer.problems));
    else if (answer.kind === 'failed') waiting.reject(new FaultlineError('FL_ERR_POLICY_INVALID', answer.message));
    else inThread(waiting.input).then(waiting.resolve, waiting.reject);
  }

  /** What the thread had not answered is validated here. */
  private fallBack(): void {
    for (const [id, { input, resolve, reject }] of this.waiting) {
      this.waiting.delete(id);
      inThread(input).then(resolve, reject);
    }
  }
}

function inThread(input: EffectiveInput): Promise<EffectivePolicy> {
  try {
    return Promise.resolve(validateEffective(input));
  } catch (err) {
    return Promise.reject(err);
  }
}

function sizeOf(input: EffectiveInput): number {
  const layer = input.overlay.listeners.length + input.overlay.rules.length === 0 ? 0 : JSON.stringify(input.overlay).length;
  return Buffer.byteLength(input.text) + layer;
}
