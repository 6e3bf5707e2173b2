import * as dnsPacket from 'dns-packet';
import type { DecodedPacket } from 'dns-packet';
import type { DnsErrorRcode, DnsQuestion } from '../faults/types.js';

/** Types dns-packet has no name for, that rules may still name. */
const EXTRA_TYPES: Record<string, string> = { UNKNOWN_64: 'SVCB', UNKNOWN_65: 'HTTPS' };

const RCODES: Record<DnsErrorRcode | 'NOERROR' | 'FORMERR', number> = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, REFUSED: 5 };

/** What a message that reached the proxy is. */
export type Inbound =
  /** A standard query with one question: rules may match it. */
  | { kind: 'query'; packet: DecodedPacket; question: DnsQuestion }
  /** A well-formed message rules cannot match (another opcode, several or no questions): forwarded as it is. */
  | { kind: 'other' }
  /** A response, or too short to answer: dropped (never answered, so no reflection). */
  | { kind: 'ignored' }
  /** Not decodable, with a full header: answered FORMERR with its id. */
  | { kind: 'malformed'; id: number };

/**
 * Reads a message with dns-packet. Only for a message the library cannot decode are two header
 * fields read here, the id and the QR bit, to answer FORMERR to a query (never to a response).
 */
export function readMessage(message: Buffer, transport: 'udp' | 'tcp'): Inbound {
  let packet: DecodedPacket;
  try {
    packet = dnsPacket.decode(message);
  } catch {
    if (message.length < 12 || (message.readUInt16BE(2) & 0x8000) !== 0) return { kind: 'ignored' };
    return { kind: 'malformed', id: message.readUInt16BE(0) };
  }
  if (packet.type === 'response') return { kind: 'ignored' };
  const opcode = (packet as DecodedPacket & { opcode?: string }).opcode;
  const questions = packet.questions ?? [];
  const first = questions[0];
  if (opcode !== 'QUERY' || questions.length !== 1 || !first || typeof first.name !== 'string') return { kind: 'other' };
  const type = String(first.type);
  return { kind: 'query', packet, question: { name: first.name.toLowerCase().replace(/\.$/, ''), type: EXTRA_TYPES[type] ?? type, transport } };
}

/** The rcode of a response, as text ("NOERROR", "NXDOMAIN", ...); "unknown" when it cannot be decoded. */
export function responseRcode(message: Buffer): string {
  try {
    return (dnsPacket.decode(message) as DecodedPacket & { rcode?: string }).rcode ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** The header flags of an answer to `query`: QR, RD and CD copied, RA set (we forward recursively). */
function flagsFor(query: DecodedPacket | undefined, rcode: number, truncated = false): number {
  const copied = (query?.flags ?? 0) & (dnsPacket.RECURSION_DESIRED | dnsPacket.CHECKING_DISABLED);
  return copied | dnsPacket.RECURSION_AVAILABLE | (truncated ? dnsPacket.TRUNCATED_RESPONSE : 0) | rcode;
}

/** An answer with `rcode` and no records (dns_error, FORMERR). */
export function errorAnswer(query: DecodedPacket, rcode: DnsErrorRcode): Buffer {
  return dnsPacket.encode({ type: 'response', id: query.id ?? 0, flags: flagsFor(query, RCODES[rcode]), questions: query.questions ?? [] });
}

/** FORMERR for a query the library could not decode: its id, no question. */
export function formatError(id: number): Buffer {
  return dnsPacket.encode({ type: 'response', id, flags: flagsFor(undefined, RCODES.FORMERR) });
}

/** An answer with the TC bit and no records: the client is to ask again over TCP. */
export function truncatedAnswer(query: DecodedPacket): Buffer {
  return dnsPacket.encode({ type: 'response', id: query.id ?? 0, flags: flagsFor(query, RCODES.NOERROR, true), questions: query.questions ?? [] });
}

/** A NOERROR answer with A or AAAA records for `addresses` (none: an empty answer). */
export function addressAnswer(query: DecodedPacket, question: DnsQuestion, addresses: string[], ttl: number): Buffer {
  const asked = query.questions?.[0]?.name ?? question.name;
  const type = question.type === 'AAAA' ? 'AAAA' : 'A';
  return dnsPacket.encode({
    type: 'response',
    id: query.id ?? 0,
    flags: flagsFor(query, RCODES.NOERROR),
    questions: query.questions ?? [],
    answers: addresses.map((data) => ({ type, name: asked, ttl, class: 'IN' as const, data })),
  });
}
