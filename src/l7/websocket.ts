import type { Writable } from 'node:stream';
import * as ws from 'ws';
import type { StreamDirection } from '../faults/types.js';
import type { CompiledFault } from '../policy/compile.js';
import { ExchangePlan } from './exchange.js';
import { hold, type L7Host } from './host.js';

// ws exports its framing (Receiver, Sender) from its ESM entry; @types/ws does not declare them.
const { Receiver, Sender } = ws as unknown as {
  Receiver: new (options: { isServer: boolean; maxPayload: number }) => Writable;
  Sender: { frame(data: Buffer, options: { fin: boolean; opcode: number; mask: boolean; readOnly: boolean; rsv1: boolean }): Buffer[] };
};

/**
 * Largest message relayed on a connection a ws rule inspects: messages are reassembled to be
 * drawn, delayed or dropped whole, so a bigger one closes the connection with 1009 (Message Too
 * Big) as soon as its length is announced, never buffered beyond this.
 */
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
/** Bytes of held (ws_delay) messages per direction before the sender is pushed back. */
export const MAX_HELD_BYTES = 1024 * 1024;
const OPCODE = { text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;
/** ws's error codes and the close code each one means (RFC 6455 7.4.1). */
const CLOSE_CODE: Record<string, number> = {
  WS_ERR_UNSUPPORTED_MESSAGE_LENGTH: 1009,
  WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH: 1009,
  WS_ERR_TOO_MANY_BUFFERED_PARTS: 1009,
  WS_ERR_INVALID_UTF8: 1007,
};

/** Where a direction's frames go: the framer's readable side, with a hook for when it is read. */
export interface WsOutput {
  push(chunk: Buffer | null): boolean;
  readonly readableLength: number;
  readonly readableHighWaterMark: number;
  readonly destroyed: boolean;
  readonly readableEnded: boolean;
  /** Called when the reader wants more (the framer's `_read`). */
  onPull: (() => void) | undefined;
}

interface Held {
  due: number;
  opcode: number;
  data: Buffer;
}

/**
 * WebSocket message faults after a 101: both directions are parsed into messages with `ws`'s
 * Receiver and framed again with its Sender (client→server frames masked, as RFC 6455 wants).
 * Each data message is one exchange: the rule's ws faults are drawn for it (probability per
 * message) and act on it (ws_delay holds it, order kept; ws_drop drops it; ws_close closes
 * both peers). Ping, pong and close frames pass as they are. Memory is bounded: a message is
 * at most MAX_MESSAGE_BYTES, held messages at most MAX_HELD_BYTES per direction, and a
 * direction whose reader is slow stops reading its sender (backpressure through TCP).
 */
export class WsRelay {
  private readonly receivers: Record<StreamDirection, Writable>;
  private readonly held: Record<StreamDirection, Held[]> = { upstream: [], downstream: [] };
  private readonly heldBytes: Record<StreamDirection, number> = { upstream: 0, downstream: 0 };
  private readonly waiting: Record<StreamDirection, (() => void) | undefined> = { upstream: undefined, downstream: undefined };
  private readonly timing: Record<StreamDirection, boolean> = { upstream: false, downstream: false };
  private closed = false;

  constructor(
    private readonly host: L7Host,
    private readonly faults: CompiledFault[],
    private readonly toUpstream: WsOutput,
    private readonly toClient: WsOutput,
  ) {
    this.receivers = {
      upstream: new Receiver({ isServer: true, maxPayload: MAX_MESSAGE_BYTES }),
      downstream: new Receiver({ isServer: false, maxPayload: MAX_MESSAGE_BYTES }),
    };
    for (const direction of ['upstream', 'downstream'] as const) {
      this.listen(direction);
      this.out(direction).onPull = () => this.pump(direction);
    }
  }

  /** Bytes read from the side that sends `direction`; `done` when more may be read. */
  input(direction: StreamDirection, chunk: Buffer, done: () => void): void {
    if (this.closed) return done();
    this.receivers[direction].write(chunk);
    if (this.blocked(direction)) this.waiting[direction] = done;
    else done();
  }

  private out(direction: StreamDirection): WsOutput {
    return direction === 'upstream' ? this.toUpstream : this.toClient;
  }

  private blocked(direction: StreamDirection): boolean {
    const out = this.out(direction);
    return !this.closed && (this.heldBytes[direction] >= MAX_HELD_BYTES || out.readableLength >= out.readableHighWaterMark);
  }

  private listen(direction: StreamDirection): void {
    const receiver = this.receivers[direction];
    receiver.on('message', (data: Buffer, isBinary: boolean) => this.message(direction, data, isBinary ? OPCODE.binary : OPCODE.text));
    receiver.on('ping', (data: Buffer) => this.enqueue(direction, OPCODE.ping, data, 0));
    receiver.on('pong', (data: Buffer) => this.enqueue(direction, OPCODE.pong, data, 0));
    receiver.on('conclude', (code: number, reason: Buffer) => this.enqueue(direction, OPCODE.close, closePayload(code, reason), 0));
    receiver.on('error', (err: Error & { code?: string }) => this.protocolError(direction, err));
  }

  private message(direction: StreamDirection, data: Buffer, opcode: number): void {
    if (this.closed) return;
    const decisions = [];
    for (const fault of this.faults) {
      const decision = this.host.engine.drawMessage(this.host.state, fault, direction);
      if (decision) decisions.push(decision);
    }
    if (decisions.length === 0) return this.enqueue(direction, opcode, data, 0);
    const plan = ExchangePlan.of('ws', decisions);
    for (const fault of plan.acted) this.host.countFault(fault);
    if (plan.closing) return this.closeBoth(plan.closing.code, plan.closing.reason);
    if (plan.dropped) return;
    this.enqueue(direction, opcode, data, plan.requestHoldMs);
  }

  /** Queues a frame; held ones keep their order, each due `delayMs` after it arrived. */
  private enqueue(direction: StreamDirection, opcode: number, data: Buffer, delayMs: number): void {
    const queue = this.held[direction];
    if (delayMs === 0 && queue.length === 0) return this.send(direction, opcode, data);
    queue.push({ due: performance.now() + delayMs, opcode, data });
    this.heldBytes[direction] += data.length;
    this.pump(direction);
  }

  /** Sends the frames that are due while the reader keeps up; waits (cancellably) for the next. */
  private pump(direction: StreamDirection): void {
    const queue = this.held[direction];
    const out = this.out(direction);
    while (queue.length > 0 && out.readableLength < out.readableHighWaterMark) {
      const next = queue[0] as Held;
      const waitMs = next.due - performance.now();
      if (waitMs > 1) {
        if (this.timing[direction]) return;
        this.timing[direction] = true;
        void hold(waitMs, this.host.signal).then(() => {
          this.timing[direction] = false;
          if (!this.host.signal.aborted) this.pump(direction);
        });
        return;
      }
      queue.shift();
      this.heldBytes[direction] -= next.data.length;
      this.send(direction, next.opcode, next.data);
    }
    if (!this.blocked(direction)) {
      const done = this.waiting[direction];
      this.waiting[direction] = undefined;
      done?.();
    }
  }

  private send(direction: StreamDirection, opcode: number, data: Buffer): void {
    if (this.closed && opcode !== OPCODE.close) return;
    const out = this.out(direction);
    if (out.destroyed || out.readableEnded) return;
    const frame = Sender.frame(data, { fin: true, opcode, mask: direction === 'upstream', readOnly: false, rsv1: false });
    out.push(frame.length === 1 ? (frame[0] as Buffer) : Buffer.concat(frame));
  }

  /** Both peers get a Close frame with `code` and `reason`, then the connection ends. */
  private closeBoth(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    const payload = closePayload(code, Buffer.from(reason));
    for (const direction of ['downstream', 'upstream'] as const) {
      this.held[direction].length = 0;
      this.heldBytes[direction] = 0;
      this.send(direction, OPCODE.close, payload);
      this.out(direction).push(null);
      const done = this.waiting[direction];
      this.waiting[direction] = undefined;
      done?.();
    }
  }

  private protocolError(direction: StreamDirection, err: Error & { code?: string }): void {
    const code = CLOSE_CODE[err.code ?? ''] ?? 1002;
    this.host.log.debug({ cause: err.message, code: err.code, from: direction === 'upstream' ? 'client' : 'upstream' }, 'invalid WebSocket frame');
    this.closeBoth(code, err.message.slice(0, 120));
  }
}

function closePayload(code: number, reason: Buffer): Buffer {
  if (code === 1005 || code === undefined) return Buffer.alloc(0);
  const payload = Buffer.alloc(2 + reason.length);
  payload.writeUInt16BE(code, 0);
  reason.copy(payload, 2);
  return payload;
}
