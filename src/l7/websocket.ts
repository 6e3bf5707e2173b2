import type { Transform } from 'node:stream';
import * as ws from 'ws';
import type { StreamDirection } from '../faults/types.js';
import type { CompiledFault } from '../policy/compile.js';
import { sleep, type L7Host } from './host.js';

// ws exports its framing (Receiver, Sender) from its ESM entry; @types/ws does not declare them.
const { Receiver, Sender } = ws as unknown as {
  Receiver: new (options: { isServer: boolean; maxPayload: number }) => import('node:stream').Writable;
  Sender: { frame(data: Buffer, options: { fin: boolean; opcode: number; mask: boolean; readOnly: boolean; rsv1: boolean }): Buffer[] };
};

/** Largest message relayed (ws's default maxPayload): a bigger one is a protocol error (1009). */
const MAX_MESSAGE_BYTES = 100 * 1024 * 1024;
const OPCODE = { text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;

/**
 * WebSocket message faults after a 101: both directions are parsed into messages with `ws`'s
 * Receiver and framed again with its Sender (client→server frames masked, as RFC 6455 wants).
 * Each data message draws the rule's ws faults (probability per message): ws_delay holds it
 * (order kept), ws_drop drops it, ws_close sends both peers a Close with the fault's code and
 * reason and ends the connection. Ping, pong and close frames pass as they are.
 */
export class WsRelay {
  private readonly chains: Record<StreamDirection, Promise<void>> = { upstream: Promise.resolve(), downstream: Promise.resolve() };
  private readonly held: Record<StreamDirection, number> = { upstream: 0, downstream: 0 };
  private closed = false;

  constructor(
    private readonly host: L7Host,
    private readonly faults: CompiledFault[],
    private readonly toUpstream: Transform,
    private readonly toClient: Transform,
  ) {
    const fromClient = new Receiver({ isServer: true, maxPayload: MAX_MESSAGE_BYTES });
    const fromUpstream = new Receiver({ isServer: false, maxPayload: MAX_MESSAGE_BYTES });
    this.listen(fromClient, 'upstream');
    this.listen(fromUpstream, 'downstream');
    (toUpstream as { wsInput?: (c: Buffer) => void }).wsInput = (chunk) => fromClient.write(chunk);
    (toClient as { wsInput?: (c: Buffer) => void }).wsInput = (chunk) => fromUpstream.write(chunk);
  }

  private listen(receiver: import('node:stream').Writable, direction: StreamDirection): void {
    receiver.on('message', (data: Buffer, isBinary: boolean) => this.message(direction, data, isBinary ? OPCODE.binary : OPCODE.text));
    receiver.on('ping', (data: Buffer) => this.send(direction, OPCODE.ping, data));
    receiver.on('pong', (data: Buffer) => this.send(direction, OPCODE.pong, data));
    receiver.on('conclude', (code: number, reason: Buffer) => this.send(direction, OPCODE.close, closePayload(code, reason)));
    receiver.on('error', (err: Error) => this.protocolError(direction, err));
  }

  private message(direction: StreamDirection, data: Buffer, opcode: number): void {
    if (this.closed) return;
    let delay = 0;
    for (const fault of this.faults) {
      const effect = this.host.engine.drawMessage(this.host.state, fault, direction);
      if (!effect) continue;
      this.host.countFault(fault);
      if (effect.wsClose) return this.closeBoth(effect.wsClose.code, effect.wsClose.reason);
      if (effect.wsDrop) return;
      delay += effect.wsDelay ?? 0;
    }
    if (delay === 0 && this.held[direction] === 0) return this.send(direction, opcode, data);
    // Held messages keep their order: a later message waits for the ones ahead of it.
    // Each is due `delay` after it arrived, not after the one ahead of it.
    const due = performance.now() + delay;
    this.held[direction]++;
    this.chains[direction] = this.chains[direction]
      .then(() => (due > performance.now() ? sleep(due - performance.now()) : undefined))
      .then(() => {
        this.held[direction]--;
        this.send(direction, opcode, data);
      });
  }

  private send(direction: StreamDirection, opcode: number, data: Buffer): void {
    if (this.closed && opcode !== OPCODE.close) return;
    const out = direction === 'upstream' ? this.toUpstream : this.toClient;
    if (out.destroyed || out.readableEnded) return;
    const frame = Sender.frame(data, { fin: true, opcode, mask: direction === 'upstream', readOnly: false, rsv1: false });
    out.push(frame.length === 1 ? frame[0] : Buffer.concat(frame));
  }

  /** Both peers get a Close frame with `code` and `reason`, then the connection ends. */
  private closeBoth(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    const payload = closePayload(code, Buffer.from(reason));
    this.send('downstream', OPCODE.close, payload);
    this.send('upstream', OPCODE.close, payload);
    this.toClient.push(null);
    this.toUpstream.push(null);
  }

  private protocolError(direction: StreamDirection, err: Error): void {
    const symbol = Object.getOwnPropertySymbols(err).find((s) => s.description === 'status-code');
    const code = (symbol ? (err as unknown as Record<symbol, number>)[symbol] : undefined) ?? 1002;
    this.host.log.debug({ cause: err.message, from: direction === 'upstream' ? 'client' : 'upstream' }, 'invalid WebSocket frame');
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
