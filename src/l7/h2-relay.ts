import type { Socket } from 'node:net';
import { Readable, Writable } from 'node:stream';
import { Http2ProtocolError } from '../errors.js';
import type { RequestMeta } from '../policy/match.js';
import { ExchangePlan } from './exchange.js';
import { H2Exchange } from './h2-exchange.js';
import {
  CLIENT_PREFACE,
  Flag,
  FrameReader,
  FrameType,
  fragmentOf,
  goaway,
  H2,
  headerFrames,
  MAX_HEADER_BLOCK,
  rstStream,
  windowUpdate,
  type Frame,
  type FrameSink,
} from './h2-frames.js';
import { FrameOutput } from './h2-output.js';
import { encodeBlock, HpackDecoder, type HeaderBlock } from './hpack.js';
import { hold, type L7Host } from './host.js';

/** The largest dynamic table a peer may ask of the other's encoder through the relay (SETTINGS rewritten down to it). */
const MAX_TABLE = 64 * 1024;
/** Bytes of held frames (delayed requests, delayed or paced responses) before the relay stops reading. */
const MAX_HELD = 8 * 1024 * 1024;
/** Streams faultline answered or reset itself, remembered so that the client's late frames on them never go upstream. */
const OWN_CLOSED = 1024;

/** A complete header block, decoded, with the frames it came in. */
export interface Block extends HeaderBlock {
  readonly type: number;
  readonly stream: number;
  /** END_STREAM on its HEADERS. */
  readonly endStream: boolean;
  /** The frames as they came (passed on unchanged while the receiver's table is the sender's). */
  readonly raw: Buffer[];
  readonly promised?: number | undefined;
}

interface Assembling {
  type: number;
  stream: number;
  endStream: boolean;
  promised: number | undefined;
  raw: Buffer[];
  fragments: Buffer[];
  size: number;
}

/** One direction: its frame reader, the HPACK decoder following its sender, and whether the receiver's table is still the sender's. */
class Side implements FrameSink {
  readonly reader = new FrameReader(this);
  readonly decoder = new HpackDecoder(4096);
  /**
   * The receiver's dynamic table is the sender's: blocks pass as their original bytes. False
   * once a block that changed the table was dropped or held: every block is re-encoded after.
   */
  synced = true;
  /** Size updates of blocks that were dropped or held, owed to the receiver's next block. */
  owedSizeUpdates: readonly number[] = [];
  assembling: Assembling | undefined;
  prefaceLeft: number;

  constructor(readonly fromClient: boolean, readonly relay: Http2Relay, readonly out: FrameOutput) {
    this.prefaceLeft = fromClient ? CLIENT_PREFACE.length : 0;
  }

  gather(f: Frame): boolean {
    return this.relay.gather(this, f);
  }

  frame(f: Frame): void {
    this.relay.frame(this, f);
  }

  piece(_f: Frame, bytes: Buffer, last: boolean): void {
    this.out.pass(bytes, !last);
  }
}

/**
 * HTTP/2 cleartext (prior knowledge) and gRPC relayed frame by frame: the client's and the
 * upstream's frames pass with their stream ids, DATA, SETTINGS, PING, WINDOW_UPDATE and
 * PRIORITY as their bytes, so both peers' settings and flow control stay end to end. Header
 * blocks are decoded (HPACK) to match each request; one no rule takes passes as its original
 * bytes. A stream a fault acts on is handled by its H2Exchange: answered or reset by the relay,
 * its request or response held, its response DATA paced, its exchange observed.
 *
 * HPACK: each direction's decoder follows its sender's encoder. As long as every block reaches
 * the receiver in order, the receiver's table is the sender's and blocks pass unchanged. A
 * block that is dropped (answered, reset) or held, and that changed the table, ends that: from
 * then on the direction's blocks are re-encoded with literals that leave the receiver's table
 * as it was (a held block is always re-encoded when it goes).
 */
export class Http2Relay {
  /** Client bytes in (the connection's upstream Link writes here). */
  readonly fromClient: Writable;
  /** Bytes for the client (the connection's downstream Link reads here). */
  readonly toClient: Readable;
  readonly up: Side;
  readonly down: Side;
  /** Streams a fault acts on (and every stream once ids are remapped). */
  readonly exchanges = new Map<number, H2Exchange>();
  private readonly ownClosed = new Set<number>();
  /** Highest stream id the client opened. */
  lastClientStream = 0;
  readonly ids = new StreamIds();
  /** The upstream sent GOAWAY: new streams are refused. */
  upstreamGone = false;
  /** Bytes the relay sent the client as DATA of its own: the client's connection WINDOW_UPDATEs for them are not the upstream's. */
  private owedByClient = 0;
  /** Client DATA the relay dropped, to be given back to the client's connection window. */
  private creditClient = 0;
  private heldBytes = 0;
  private clientWaiting: (() => void) | undefined;
  private pausedForHeld = false;
  private dead = false;
  private reading = false;

  constructor(readonly host: L7Host, private readonly client: Socket, readonly upstream: Socket) {
    const upOut = new FrameOutput((bytes) => void upstream.write(bytes));
    this.toClient = new Readable({ read: () => (this.pausedForHeld ? undefined : upstream.resume()) });
    const downOut = new FrameOutput((bytes) => {
      if (!this.toClient.push(bytes)) upstream.pause();
    }, false);
    this.up = new Side(true, this, upOut);
    this.down = new Side(false, this, downOut);
    this.fromClient = new Writable({
      write: (chunk: Buffer, _enc, callback) => {
        this.read(this.up, chunk);
        if (this.heldBytes > MAX_HELD) this.clientWaiting = () => callback();
        else if (upstream.writableNeedDrain) upstream.once('drain', () => callback());
        else callback();
      },
    });
    upstream.on('data', (chunk: Buffer) => {
      this.read(this.down, chunk);
      if (this.heldBytes > MAX_HELD) (this.pausedForHeld = true), upstream.pause();
    });
    upstream.once('end', () => this.toClient.push(null));
    host.signal.addEventListener('abort', () => (this.dead = true), { once: true });
  }

  private read(side: Side, chunk: Buffer): void {
    if (this.dead) return;
    this.reading = true;
    this.up.out.begin();
    this.down.out.begin();
    try {
      let p = 0;
      if (side.prefaceLeft > 0) {
        const n = Math.min(side.prefaceLeft, chunk.length);
        const at = CLIENT_PREFACE.length - side.prefaceLeft;
        if (!chunk.subarray(0, n).equals(CLIENT_PREFACE.subarray(at, at + n))) throw new Http2ProtocolError(H2.PROTOCOL_ERROR, 'not the HTTP/2 client preface');
        side.prefaceLeft -= n;
        side.out.pass(chunk.subarray(0, n), false);
        p = n;
      }
      side.reader.push(p === 0 ? chunk : chunk.subarray(p));
      if (this.creditClient > 0) {
        this.down.out.inject(windowUpdate(0, this.creditClient));
        this.creditClient = 0;
      }
    } catch (err) {
      if (!(err instanceof Http2ProtocolError)) throw err;
      this.fail(side, err);
    } finally {
      this.reading = false;
      this.up.out.flush();
      this.down.out.flush();
    }
  }

  /** A peer broke the protocol: GOAWAY with its code to the client (when it can go between frames), and the connection ends. */
  private fail(side: Side, err: Http2ProtocolError): void {
    this.host.log.debug({ cause: err.message, from: side.fromClient ? 'client' : 'upstream' }, 'HTTP/2 protocol error: the connection ends');
    this.dead = true;
    const code = side.fromClient ? err.h2Code : H2.INTERNAL_ERROR;
    this.down.out.open();
    if (!this.down.out.inFrame) this.down.out.inject(goaway(this.lastClientStream, code));
    if (!side.fromClient && !this.up.out.inFrame) this.up.out.inject(goaway(0, err.h2Code));
    this.down.out.flush();
    this.toClient.push(null);
    this.upstream.end();
    const { signal } = this.host;
    void hold(1000, signal).then(() => signal.aborted || this.host.close('HTTP/2 protocol error'));
  }

  // -- frames ---------------------------------------------------------------------------

  /** Which frames are read whole: all but DATA of streams that pass untouched, and unknown types. */
  gather(side: Side, f: Frame): boolean {
    if (side.assembling && f.type !== FrameType.Continuation) throw new Http2ProtocolError(H2.PROTOCOL_ERROR, `frame type ${f.type} inside a header block`);
    if (f.type === FrameType.Data) {
      if (this.exchangeFor(side, f.stream) || this.closedStream(side, f.stream)) return true;
      side.out.pass(f.head, f.length > 0);
      return false;
    }
    if (f.type > FrameType.Continuation) {
      side.out.pass(f.head, f.length > 0);
      return false;
    }
    return true;
  }

  frame(side: Side, f: Frame): void {
    this.dispatch(side, f);
    // The server's connection preface (its SETTINGS) passed: the relay's own frames may follow.
    if (!side.fromClient) this.down.out.open();
  }

  private dispatch(side: Side, f: Frame): void {
    switch (f.type) {
      case FrameType.Data:
        return this.data(side, f);
      case FrameType.Headers:
      case FrameType.PushPromise:
      case FrameType.Continuation:
        return this.headerFrame(side, f);
      case FrameType.Settings:
        return this.settings(side, f);
      case FrameType.WindowUpdate:
        return this.windowUpdate(side, f);
      case FrameType.RstStream:
        return this.rstStream(side, f);
      case FrameType.Goaway:
        return side.fromClient ? this.pass(side, f) : this.upstreamGoaway(f);
      case FrameType.Priority:
        // Advisory (and deprecated, RFC 9113 5.3.2): not worth mapping once ids differ.
        if (this.ids.remapped || this.exchanges.has(f.stream)) return;
        return this.pass(side, f);
      default:
        return this.pass(side, f);
    }
  }

  /** A gathered frame passes as it came (its stream id mapped when ids are remapped). */
  pass(side: Side, f: Frame, stream = f.stream): void {
    if (stream !== f.stream) f.head.writeUInt32BE(stream, 5);
    side.out.pass(f.head, false);
    side.out.pass(f.payload, false);
  }

  private data(side: Side, f: Frame): void {
    const ex = this.exchangeFor(side, f.stream);
    if (ex) return side.fromClient ? ex.requestData(f) : ex.responseData(f);
    // A stream faultline answered, or one closed since ids were remapped: dropped, its window given back.
    if (side.fromClient) this.dropClientData(f.length);
    else this.giveBackToUpstream(f.length);
  }

  /** A stream with no exchange that is closed for the relay: its frames go nowhere. */
  private closedStream(side: Side, stream: number): boolean {
    if (stream === 0) return false;
    return side.fromClient ? this.ownClosed.has(stream) || this.ids.upstreamIdOf(stream) === undefined : stream % 2 === 1 && this.ids.clientIdOf(stream) === undefined;
  }

  /** Client DATA dropped: given back to the client's connection window (at the end of the chunk being read). */
  dropClientData(bytes: number): void {
    if (this.reading) this.creditClient += bytes;
    else this.giveBackToClient(bytes);
  }

  private headerFrame(side: Side, f: Frame): void {
    const a = side.assembling;
    if (f.type === FrameType.Continuation) {
      if (!a || a.stream !== f.stream) throw new Http2ProtocolError(H2.PROTOCOL_ERROR, 'CONTINUATION without its HEADERS');
    } else if (f.type === FrameType.PushPromise && side.fromClient) {
      throw new Http2ProtocolError(H2.PROTOCOL_ERROR, 'PUSH_PROMISE from a client');
    }
    const fragment = fragmentOf(f.type, f.flags, f.payload);
    const endStream = f.type === FrameType.Headers && (f.flags & Flag.EndStream) !== 0;
    const promised = f.type === FrameType.PushPromise ? f.payload.readUInt32BE(f.flags & Flag.Padded ? 1 : 0) & 0x7fffffff : undefined;
    if (!a && (f.flags & Flag.EndHeaders) !== 0) {
      // A block in one frame (nearly all of them): decoded from the frame itself.
      return this.block(side, side.decoder.decode(fragment), f.type, f.stream, endStream, [f.head, f.payload], promised);
    }
    const assembling = a ?? { type: f.type, stream: f.stream, endStream, promised, raw: [], fragments: [], size: 0 };
    assembling.raw.push(f.head, f.payload);
    assembling.fragments.push(fragment);
    assembling.size += fragment.length;
    if (assembling.size > MAX_HEADER_BLOCK) throw new Http2ProtocolError(H2.ENHANCE_YOUR_CALM, `a header block over ${MAX_HEADER_BLOCK} bytes`);
    if ((f.flags & Flag.EndHeaders) === 0) {
      side.assembling = assembling;
      return;
    }
    side.assembling = undefined;
    const decoded = side.decoder.decode(Buffer.concat(assembling.fragments));
    this.block(side, decoded, assembling.type, assembling.stream, assembling.endStream, assembling.raw, assembling.promised);
  }

  private block(side: Side, decoded: HeaderBlock, type: number, stream: number, endStream: boolean, raw: Buffer[], promised: number | undefined): void {
    const block: Block = { fields: decoded.fields, changedTable: decoded.changedTable, sizeUpdates: decoded.sizeUpdates, type, stream, endStream, raw, promised };
    if (side.fromClient) this.clientBlock(block);
    else this.upstreamBlock(block);
  }

  private clientBlock(block: Block): void {
    const id = block.stream;
    const ex = this.exchanges.get(id);
    if (ex) return ex.requestTrailers(block);
    if (id <= this.lastClientStream || id % 2 === 0) {
      // Trailers of a stream that passes untouched, or a stream id the upstream will judge.
      const upstreamId = this.closedStream(this.up, id) ? undefined : this.ids.upstreamIdOf(id);
      if (upstreamId === undefined) return this.dropBlock(this.up, block);
      return this.emitBlock(this.up, block, upstreamId, true);
    }
    this.lastClientStream = id;
    if (this.upstreamGone) {
      this.dropBlock(this.up, block);
      return this.toClientFrames(rstStream(id, H2.REFUSED_STREAM));
    }
    const meta = requestMeta(block.fields);
    const { engine, state } = this.host;
    const plan = ExchangePlan.of(meta.protocol === 'grpc' ? 'grpc' : 'http', engine.evaluateRequest(state, meta));
    for (const fault of plan.acted) this.host.countFault(fault);
    if (plan.empty && plan.taps.length === 0 && !this.ids.remapped) {
      // The common case: no fault, no observer, same ids: the block's own bytes go on.
      this.ids.assign(id, id);
      return this.emitBlock(this.up, block, id, true);
    }
    const ex2 = new H2Exchange(this, id, meta, plan);
    this.exchanges.set(id, ex2);
    ex2.start(block);
  }

  private upstreamBlock(block: Block): void {
    const id = block.stream % 2 === 0 ? block.stream : this.ids.clientIdOf(block.stream);
    if (id === undefined) return this.dropBlock(this.down, block);
    const ex = this.exchanges.get(id);
    if (ex && block.type === FrameType.Headers) return ex.responseBlock(block);
    if (block.type === FrameType.Headers) {
      const status = statusOf(block.fields);
      if (status >= 200) this.host.countRequest(status, false);
    }
    this.emitBlock(this.down, block, id, true);
  }

  private settings(side: Side, f: Frame): void {
    if ((f.flags & Flag.Ack) === 0) {
      // What this sender says it accepts bounds what the other side's sender may use.
      const other = side.fromClient ? this.down : this.up;
      for (let p = 0; p + 6 <= f.payload.length; p += 6) {
        const id = f.payload.readUInt16BE(p);
        let value = f.payload.readUInt32BE(p + 2);
        if (id === 0x1) {
          if (value > MAX_TABLE) f.payload.writeUInt32BE((value = MAX_TABLE), p + 2);
          other.decoder.maxTableSize = Math.max(other.decoder.maxTableSize, value);
        } else if (id === 0x5) {
          if (value < 16_384 || value > 16_777_215) throw new Http2ProtocolError(H2.PROTOCOL_ERROR, 'SETTINGS_MAX_FRAME_SIZE out of range');
          other.reader.maxFrame = Math.max(other.reader.maxFrame, value);
        }
      }
    }
    this.pass(side, f);
  }

  private windowUpdate(side: Side, f: Frame): void {
    const increment = f.payload.readUInt32BE(0) & 0x7fffffff;
    if (f.stream === 0) {
      if (side.fromClient && this.owedByClient > 0) {
        const taken = Math.min(this.owedByClient, increment);
        this.owedByClient -= taken;
        if (increment === taken) return;
        f.payload.writeUInt32BE(increment - taken, 0);
      }
      return this.pass(side, f);
    }
    const ex = this.exchangeFor(side, f.stream);
    if (ex) return side.fromClient ? ex.clientFrame(f) : ex.upstreamFrame(f);
    if (!this.closedStream(side, f.stream)) this.pass(side, f);
  }

  private rstStream(side: Side, f: Frame): void {
    const ex = this.exchangeFor(side, f.stream);
    if (ex) return ex.reset(side.fromClient, f);
    if (!this.closedStream(side, f.stream)) this.pass(side, f);
  }

  /**
   * The upstream is going away: streams it will not process are refused (retryable) and held
   * ones never go; the client gets the GOAWAY, as of its own stream ids, and opens its next
   * streams on a new connection.
   */
  private upstreamGoaway(f: Frame): void {
    this.upstreamGone = true;
    const last = f.payload.readUInt32BE(0) & 0x7fffffff;
    for (const ex of [...this.exchanges.values()]) ex.upstreamGoingAway(last);
    if (this.ids.remapped) f.payload.writeUInt32BE(this.lastClientStream, 0);
    this.pass(this.down, f);
  }

  // -- what exchanges use ---------------------------------------------------------------

  /** The exchange a frame of this side's stream id belongs to. */
  exchangeFor(side: Side, stream: number): H2Exchange | undefined {
    if (this.exchanges.size === 0) return undefined;
    if (side.fromClient || stream % 2 === 0) return this.exchanges.get(stream);
    const id = this.ids.clientIdOf(stream);
    return id === undefined ? undefined : this.exchanges.get(id);
  }

  /** An exchange is over: forgotten (and, when faultline answered it, its id remembered). */
  closed(ex: H2Exchange): void {
    this.exchanges.delete(ex.id);
    if (ex.upstreamId !== undefined) this.ids.release(ex.upstreamId);
    if (ex.owned) {
      this.ownClosed.add(ex.id);
      if (this.ownClosed.size > OWN_CLOSED) this.ownClosed.delete(this.ownClosed.values().next().value as number);
    }
  }

  /**
   * Sends a block on: its own frames while the receiver's table is the sender's and it goes in
   * order, else re-encoded (with the size updates owed to the receiver).
   */
  emitBlock(side: Side, block: Block, stream: number, inOrder: boolean, endStream = block.endStream): void {
    if (side.synced && inOrder && stream === block.stream && side.owedSizeUpdates.length === 0) {
      for (const raw of block.raw) side.out.pass(raw, false);
      return;
    }
    side.out.inject(this.encodeFor(side, block.fields, stream, endStream, block.sizeUpdates, block.promised));
  }

  /** Frames carrying `fields` to this side's receiver, re-encoded (size updates owed first). */
  encodeFor(side: Side, fields: readonly string[], stream: number, endStream: boolean, sizeUpdates: readonly number[] = [], promised?: number): Buffer[] {
    const updates = side.owedSizeUpdates.length > 0 ? [...side.owedSizeUpdates, ...sizeUpdates] : sizeUpdates;
    side.owedSizeUpdates = [];
    return headerFrames(stream, encodeBlock(fields, updates), endStream, promised);
  }

  /** A block that will not reach its receiver now (answered, reset, held): if it changed the table, the direction is no longer in sync. */
  dropBlock(side: Side, block: HeaderBlock): void {
    if (!block.changedTable) return;
    side.synced = false;
    if (block.sizeUpdates.length > 0) side.owedSizeUpdates = [...side.owedSizeUpdates, ...block.sizeUpdates];
  }

  /** Frames of the relay's own to the client. */
  toClientFrames(frames: Buffer | Buffer[], ownData = 0): void {
    this.owedByClient += ownData;
    this.down.out.inject(frames);
  }

  /** Frames to the upstream (released holds, window credit). */
  toUpstreamFrames(frames: Buffer | Buffer[]): void {
    this.up.out.inject(frames);
  }

  /** Client DATA that never went upstream: its connection window is given back. */
  giveBackToClient(bytes: number): void {
    if (bytes > 0) this.toClientFrames(windowUpdate(0, bytes));
  }

  /** Upstream DATA that never reached the client: the upstream's connection window is given back. */
  giveBackToUpstream(bytes: number): void {
    if (bytes > 0) this.toUpstreamFrames(windowUpdate(0, bytes));
  }

  /** Bytes held by exchanges (bounded: past MAX_HELD the relay stops reading until they go). */
  held(bytes: number): void {
    this.heldBytes += bytes;
    if (this.heldBytes > MAX_HELD) return;
    const waiting = this.clientWaiting;
    this.clientWaiting = undefined;
    waiting?.();
    if (this.pausedForHeld) {
      this.pausedForHeld = false;
      this.upstream.resume();
    }
  }
}

/**
 * Upstream stream ids: the client's own, until a held request goes upstream after a later
 * one (stream ids only grow); from then on each stream going upstream gets the next id, and
 * frames are mapped both ways. Streams that went before that keep their ids.
 */
export class StreamIds {
  remapped = false;
  private next = 1;
  /** Below these, ids were the same on both sides. */
  private clientFloor = 0;
  private upstreamFloor = 0;
  private readonly toClient = new Map<number, number>();
  private readonly toUpstream = new Map<number, number>();

  /** The upstream id of a client stream going upstream now (`lastClientStream`: the highest the client opened). */
  assign(clientId: number, lastClientStream: number): number {
    if (!this.remapped && clientId >= this.next) {
      this.next = clientId + 2;
      return clientId;
    }
    if (!this.remapped) {
      this.remapped = true;
      this.clientFloor = lastClientStream + 1;
      this.upstreamFloor = this.next;
    }
    const id = this.next;
    this.next += 2;
    this.toClient.set(id, clientId);
    this.toUpstream.set(clientId, id);
    return id;
  }

  /** The client id of an upstream stream; undefined for one closed since ids were remapped. */
  clientIdOf(upstreamId: number): number | undefined {
    if (!this.remapped || upstreamId < this.upstreamFloor) return upstreamId;
    return this.toClient.get(upstreamId);
  }

  /** The upstream id of a client stream; undefined for one closed since ids were remapped. */
  upstreamIdOf(clientId: number): number | undefined {
    if (!this.remapped) return clientId;
    const mapped = this.toUpstream.get(clientId);
    if (mapped !== undefined) return mapped;
    return clientId < this.clientFloor ? clientId : undefined;
  }

  release(upstreamId: number): void {
    const clientId = this.toClient.get(upstreamId);
    if (clientId === undefined) return;
    this.toClient.delete(upstreamId);
    this.toUpstream.delete(clientId);
  }
}

/** :status of a response block (0 when absent: trailers). */
export function statusOf(fields: readonly string[]): number {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === ':status') return Number(fields[i + 1]);
  return 0;
}

/** What rules match on: method, path without query, headers (pseudo ones included, repeated ones joined). */
export function requestMeta(fields: readonly string[]): RequestMeta {
  const headers: Record<string, string> = {};
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i] as string;
    const value = fields[i + 1] as string;
    const had = headers[name];
    headers[name] = had === undefined ? value : `${had}, ${value}`;
  }
  const path = headers[':path'] ?? '/';
  const q = path.indexOf('?');
  const grpc = (headers['content-type'] ?? '').startsWith('application/grpc');
  return { protocol: grpc ? 'grpc' : 'http', method: headers[':method'] ?? 'GET', path: q < 0 ? path : path.slice(0, q), headers };
}
