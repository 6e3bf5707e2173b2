// A worker thread's entry (src/policy/off-thread.ts starts it): validates effective policies,
// one message at a time, and answers with plain data: a valid policy's rules in chunks, each sent
// when the event loop asks for it (so that decoding them never holds it long), then the answer.
import { parentPort } from 'node:worker_threads';
import { PolicyError } from '../errors.js';
import { validateEffective, type EffectiveInput } from './effective.js';
import { toTransferable, type RuleChunk, type WorkerAnswer } from './off-thread.js';

const pending = new Map<number, { chunks: RuleChunk[]; answer: WorkerAnswer }>();

function next(id: number): void {
  const job = pending.get(id);
  if (!job) return;
  const chunk = job.chunks.shift();
  if (chunk) return parentPort?.postMessage({ id, chunk });
  pending.delete(id);
  parentPort?.postMessage({ id, answer: job.answer });
}

parentPort?.on('message', (message: { id: number; input?: EffectiveInput; pull?: true }) => {
  const { id, input } = message;
  if (!input) return next(id);
  try {
    pending.set(id, toTransferable(validateEffective(input)));
  } catch (err) {
    const answer: WorkerAnswer = err instanceof PolicyError ? { kind: 'invalid', file: err.file, problems: err.problems } : { kind: 'failed', message: (err as Error).message };
    pending.set(id, { chunks: [], answer });
  }
  next(id);
});
