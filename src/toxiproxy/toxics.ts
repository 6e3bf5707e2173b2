import { RequestError } from '../errors.js';

/**
 * Toxiproxy's toxic types, their attributes (integers, as Toxiproxy's Go structs declare them,
 * in the order its JSON shows them) and how each becomes a faultline fault. Units are
 * Toxiproxy's: milliseconds, KB/s (1 KB = 1000 bytes), bytes, and microseconds for the slicer's
 * delay.
 */
export const TOXIC_ATTRIBUTES: Readonly<Record<string, readonly string[]>> = {
  latency: ['latency', 'jitter'],
  bandwidth: ['rate'],
  slow_close: ['delay'],
  timeout: ['timeout'],
  reset_peer: ['timeout'],
  slicer: ['average_size', 'size_variation', 'delay'],
  limit_data: ['bytes'],
  noop: [],
};

export type Direction = 'upstream' | 'downstream';

/** One toxic as the Toxiproxy API knows it. */
export interface Toxic {
  name: string;
  type: string;
  /** As the client wrote it (Toxiproxy keeps the case it was given). */
  stream: string;
  direction: Direction;
  toxicity: number;
  attributes: Record<string, number>;
}

/** Toxiproxy's JSON for a toxic: attributes, name, type, stream, toxicity. */
export function toxicJson(toxic: Toxic): Record<string, unknown> {
  return { attributes: { ...toxic.attributes }, name: toxic.name, type: toxic.type, stream: toxic.stream, toxicity: toxic.toxicity };
}

const badBody = (message: string) => new RequestError(400, 'bad_request', `bad request body: ${message}`);

const jsonType = (value: unknown) => (Array.isArray(value) ? 'array' : value === null ? 'null' : typeof value === 'object' ? 'object' : typeof value);

/** A field Go would decode into a string: absent or null keeps `fallback`. */
export function stringField(body: Record<string, unknown>, key: string, fallback: string): string {
  const value = body[key];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'string') throw badBody(`json: cannot unmarshal ${jsonType(value)} into field "${key}" of type string`);
  return value;
}

/** A field Go would decode into a float32. */
export function numberField(body: Record<string, unknown>, key: string, fallback: number): number {
  const value = body[key];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number') throw badBody(`json: cannot unmarshal ${jsonType(value)} into field "${key}" of type float32`);
  return value;
}

/** A field Go would decode into a bool. */
export function boolField(body: Record<string, unknown>, key: string, fallback: boolean): boolean {
  const value = body[key];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'boolean') throw badBody(`json: cannot unmarshal ${jsonType(value)} into field "${key}" of type bool`);
  return value;
}

/** Reads a JSON object body the way Go's decoder would into a struct. */
export function objectBody(value: unknown, what: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw badBody(`json: cannot unmarshal ${jsonType(value)} into a ${what} object`);
  }
  return value as Record<string, unknown>;
}

/**
 * The attributes of a `type` toxic: `given` (the request's `attributes`) over `current`
 * (zero for a new toxic). Unknown keys are ignored, as Toxiproxy does; values must be integers.
 */
export function parseAttributes(type: string, given: unknown, current?: Record<string, number>): Record<string, number> {
  const keys = TOXIC_ATTRIBUTES[type] ?? [];
  const attributes: Record<string, number> = {};
  for (const key of keys) attributes[key] = current?.[key] ?? 0;
  if (given === undefined || given === null) return attributes;
  const body = objectBody(given, `${type} attributes`);
  for (const key of keys) {
    const value = body[key];
    if (value === undefined || value === null) continue;
    if (typeof value !== 'number' || !Number.isInteger(value)) {
      throw badBody(`json: cannot unmarshal ${typeof value === 'number' ? `number ${value}` : jsonType(value)} into field "attributes.${key}" of type int64`);
    }
    attributes[key] = value;
  }
  return attributes;
}

/** "upstream" or "downstream", in any case; anything else is Toxiproxy's 400. */
export function parseDirection(stream: string): Direction {
  const lower = stream.toLowerCase();
  if (lower === 'upstream' || lower === 'downstream') return lower;
  throw new RequestError(400, 'bad_request', 'stream was invalid, can be either upstream or downstream');
}

const nonNegative = (n: number | undefined) => Math.max(0, n ?? 0);

/**
 * The faultline fault (policy-shaped) a toxic becomes, or undefined when it does nothing (noop,
 * a zero latency, a bandwidth rate of 0, which Toxiproxy reads as "unlimited").
 *
 * reset_peer: Toxiproxy resets `timeout` ms after the first data that reaches the toxic once it
 * applies. A timeout of 0 maps exactly (reset on the first data in the toxic's stream, which is
 * dropped: `reset` with `bytes: 0`). A timeout above 0 maps to `reset` with `after: timeout`,
 * which counts from the connection's start: the same for a connection opened after the toxic
 * (the usual case), while a live connection already older than `timeout` is reset at once.
 */
export function faultOf(toxic: Toxic): Record<string, unknown> | undefined {
  const a = toxic.attributes;
  let fault: Record<string, unknown> | undefined;
  switch (toxic.type) {
    case 'latency':
      if (nonNegative(a.latency) > 0 || nonNegative(a.jitter) > 0) fault = { type: 'latency', latency: nonNegative(a.latency), jitter: nonNegative(a.jitter) };
      break;
    case 'bandwidth':
      if ((a.rate ?? 0) > 0) fault = { type: 'bandwidth', rate: (a.rate as number) * 1000 };
      break;
    case 'slow_close':
      fault = { type: 'slow_close', delay: nonNegative(a.delay) };
      break;
    case 'timeout':
      fault = { type: 'timeout', timeout: nonNegative(a.timeout) };
      break;
    case 'reset_peer':
      fault = nonNegative(a.timeout) === 0 ? { type: 'reset', bytes: 0 } : { type: 'reset', after: nonNegative(a.timeout) };
      break;
    case 'slicer': {
      // faultline wants averageSize >= 1 and sizeVariation < averageSize; Toxiproxy takes anything.
      const averageSize = Math.max(1, a.average_size ?? 0);
      const sizeVariation = Math.min(nonNegative(a.size_variation), averageSize - 1);
      fault = { type: 'slicer', averageSize, sizeVariation, delay: nonNegative(a.delay) / 1000 };
      break;
    }
    case 'limit_data':
      fault = { type: 'limit_data', bytes: nonNegative(a.bytes) };
      break;
    default:
      return undefined;
  }
  if (!fault) return undefined;
  return { ...fault, stream: toxic.direction, probability: Math.min(1, Math.max(0, toxic.toxicity)) };
}
