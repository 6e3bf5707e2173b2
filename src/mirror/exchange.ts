import type { ExchangeTap, TappedRequest, TappedResponse } from '../faults/types.js';
import type { MirrorOptions } from '../faults/mirror.js';
import { formatHostPort } from '../net/address.js';
import { BodyCopy } from './body.js';
import { compareSides, type Side } from './compare.js';
import type { MirrorHub, MirrorStats } from './hub.js';
import { forwardableHeaders, type OutgoingRequest, type Reply } from './shadow.js';

/** Bytes handed to one comparison and not yet looked at; beyond it the comparison gives up (skipped). */
const MAX_QUEUED_BYTES = 4 * 1024 * 1024;
/** Methods whose repetition is harmless: only these go to the primary twice (noise learning). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS']);

type Outcome = Side | Error;

/**
 * One mirrored request, from the primary request's head to its verdict. It is the tap the
 * protocol hands the exchange's bytes to: each call only queues a reference (never copies,
 * never waits) and the queue is worked through on a later turn of the event loop, so the
 * client's bytes go out first. Once the request ended, the shadow copy is sent (and, for
 * noise learning, a second copy to the primary); when the primary's answer and the shadow's
 * are both in, they are compared and the verdict recorded. Every phase is bounded by the
 * fault's `timeout`: the request's end after its head, the shadow's answer after it was sent,
 * the primary's end after the shadow's. Memory: the request body up to `maxBodyBytes`, and for a
 * json comparison each answer's body up to `maxBodyBytes`, all within the pipeline's budget.
 */
export class MirroredExchange implements ExchangeTap {
  private head: TappedRequest | undefined;
  private requestBody: BodyCopy | undefined;
  private primaryHead: TappedResponse | undefined;
  private primaryBody: BodyCopy | undefined;
  private primary: Side | undefined;
  private shadow: Side | undefined;
  /** Noise learning: the primary's second answer; undefined while it is awaited or when none was asked. */
  private second: Outcome | undefined;
  private learning = false;
  /** The learning request was reported to the noise model (learned or not). */
  private reported = false;
  private readonly bodies: BodyCopy[] = [];
  private readonly queue: (() => void)[] = [];
  private queued = 0;
  private scheduled = false;
  private timer: NodeJS.Timeout | undefined;
  private waiting: { why: string; result: 'skipped' | 'shadow_error' } = { why: '', result: 'skipped' };
  /** Requests faultline sent for this exchange that have not answered yet. */
  private pending = 0;
  private readonly controller = new AbortController();
  private done = false;

  constructor(private readonly hub: MirrorHub, private readonly stats: MirrorStats, private readonly options: MirrorOptions, private readonly random: () => number) {}

  request(head: TappedRequest): void {
    const refused = this.hub.admit(this.stats, this.options);
    if (refused) return this.finish('skipped', refused, false);
    this.head = head;
    this.requestBody = this.body(this.options.maxBodyBytes);
    this.wait('the request did not end');
  }

  requestData(chunk: Buffer): void {
    this.later(chunk.length, () => this.requestBody?.update(chunk));
  }

  requestEnd(): void {
    this.later(0, () => this.send());
  }

  response(head: TappedResponse): void {
    this.later(0, () => {
      this.primaryHead = head;
      this.primaryBody = this.body(this.keep);
    });
  }

  responseData(chunk: Buffer): void {
    this.later(chunk.length, () => this.primaryBody?.update(chunk));
  }

  responseEnd(trailers: Readonly<Record<string, string>> | undefined): void {
    this.later(0, () => {
      if (!this.primaryHead || !this.primaryBody) return;
      this.primary = { status: this.primaryHead.status, headers: this.primaryHead.headers, trailers, body: this.primaryBody.finish() };
      this.settle();
    });
  }

  abort(reason: string): void {
    this.later(0, () => this.primary || this.finish('skipped', `the primary answer did not complete: ${reason}`));
  }

  private get grpc(): boolean {
    return this.head?.protocol === 'grpc';
  }

  /** Bytes of each answer's body kept: whole for a json comparison, none otherwise (hashed only). */
  private get keep(): number {
    return this.options.compare.body === 'json' && !this.grpc ? this.options.maxBodyBytes : 0;
  }

  private body(keep: number): BodyCopy {
    const body = new BodyCopy(keep, this.hub.budget);
    this.bodies.push(body);
    return body;
  }

  /** Queues work on a later turn, off the client's path; gives up when the queue grows past its bound. */
  private later(bytes: number, work: () => void): void {
    if (this.done || !this.head) return;
    this.queued += bytes;
    if (this.queued > MAX_QUEUED_BYTES) return this.finish('skipped', 'the comparison fell behind the primary answer');
    this.queue.push(work);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.queued = 0;
      for (let work = this.queue.shift(); work && !this.done; work = this.queue.shift()) work();
      this.queue.length = 0;
    });
  }

  /** The request ended: the shadow copy goes out (and the primary's second one, when learning noise). */
  private send(): void {
    const head = this.head as TappedRequest;
    const body = (this.requestBody as BodyCopy).finish();
    if (body.over) return this.finish('skipped', `the request body is over maxBodyBytes (${this.options.maxBodyBytes})`);
    const request: OutgoingRequest = {
      method: head.method,
      path: head.target,
      headers: forwardableHeaders(head.headers, { 'x-faultline-mirror': this.stats.rule }),
      body: body.bytes > 0 ? body.kept : undefined,
    };
    this.wait(`the shadow did not answer within ${this.options.timeout} ms`, 'shadow_error');
    this.fetch(this.options.target.origin, request).then((outcome) => {
      if (outcome instanceof Error) return this.finish('shadow_error', outcome.message);
      this.shadow = outcome;
      this.wait(this.primary ? 'the primary\'s second answer (noise learning) did not come in time' : `the primary answer did not end within ${this.options.timeout} ms of the shadow's`);
      this.settle();
    });
    const noise = this.stats.noise;
    if (noise && !this.grpc && IDEMPOTENT.has(head.method) && noise.draw(this.random)) {
      this.learning = true;
      const origin = `http://${formatHostPort(head.upstream.host, head.upstream.port)}`;
      this.hub.uses(this.stats, origin);
      this.fetch(origin, request).then((outcome) => {
        this.second = outcome;
        this.settle();
      });
    }
  }

  /** One request faultline sends; resolves with the answer or the error, never rejects. */
  private async fetch(origin: string, request: OutgoingRequest): Promise<Outcome> {
    const sink = this.body(this.keep);
    // No timer of its own: the phase timer gives up on it, and `finish` aborts what is still out.
    this.pending++;
    try {
      const reply: Reply = await this.hub.pools.send(origin, this.grpc, request, this.controller.signal, sink);
      return { ...reply, body: sink.finish() };
    } catch (err) {
      return err as Error;
    } finally {
      this.pending--;
    }
  }

  /** Both answers (and the second primary one, when learning) are in: compare them. */
  private settle(): void {
    if (this.done || !this.primary || !this.shadow || (this.learning && !this.second)) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    const noise = this.stats.noise;
    if (noise && !this.learning && !noise.warm) {
      // The warm-up's learning requests say what is noise: wait for them (bounded).
      this.wait('noise learning did not finish within the timeout');
      void noise.ready.then(() => setImmediate(() => this.verdict()));
      return;
    }
    setImmediate(() => this.verdict());
  }

  private verdict(): void {
    if (this.done) return;
    const primary = this.primary as Side;
    const shadow = this.shadow as Side;
    const compare = this.options.compare;
    const noise = this.stats.noise;
    if (this.learning && noise) {
      const second = this.second as Outcome;
      const learned = second instanceof Error ? undefined : compareSides(primary, second, compare, this.grpc);
      this.reported = true;
      noise.learned(learned && 'differences' in learned ? learned.differences : undefined);
    }
    const result = compareSides(primary, shadow, compare, this.grpc, noise?.keys);
    if ('skipped' in result) return this.finish('skipped', result.skipped);
    if (result.differences.length === 0) return this.finish('match');
    const head = this.head as TappedRequest;
    this.hub.drifts.add({ rule: this.stats.rule, protocol: head.protocol, method: head.method, path: head.target, status: { primary: primary.status, shadow: shadow.status } }, result.differences);
    this.finish('drift');
  }

  /** (Re)arms the phase timer: when it fires, the comparison is given up (a shadow too slow is its error). */
  private wait(why: string, result: 'skipped' | 'shadow_error' = 'skipped'): void {
    this.waiting = { why, result };
    if (this.timer) return void this.timer.refresh();
    this.timer = setTimeout(() => this.finish(this.waiting.result, this.waiting.why), this.options.timeout);
    this.timer.unref();
  }

  private finish(result: 'match' | 'drift' | 'shadow_error' | 'skipped', detail?: string, admitted = true): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    // Aborting makes a DOMException: only when a request is still out.
    if (this.pending > 0) this.controller.abort();
    for (const body of this.bodies) body.dispose();
    this.queue.length = 0;
    if (this.learning && !this.reported) this.stats.noise?.learned(undefined);
    if (admitted) this.hub.release(this.stats);
    this.hub.record(this.stats, result, detail);
  }
}
