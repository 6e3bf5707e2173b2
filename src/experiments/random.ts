import { faultRegistry } from '../faults/index.js';
import type { FaultType } from '../faults/types.js';
import { scenarioRegistry } from '../scenarios/index.js';
import type { RandomSpec } from './schema.js';

/**
 * Random mode, for game days: every `interval`, with `probability`, one fault type of `types`
 * is drawn and applied for `faultDuration`. The draws come from a seeded generator, so a run
 * is reproduced by its seed (printed in the report); they are made up front, as a plan.
 */

/** The fault types random mode can draw: those that say what one draw applies (`randomDefault`). */
const drawable = (): FaultType[] => [...faultRegistry.values()].filter((f) => f.randomDefault !== undefined);

/** Fault types and scenario names random mode can draw. */
export function randomFaultTypes(): string[] {
  return [...new Set([...drawable().map((f) => f.type), ...scenarioRegistry.keys()])];
}

/** The rule one draw of `type` applies, matching `match`. */
export function randomRule(name: string, type: string, match: Record<string, unknown> = {}): Record<string, unknown> {
  const fault = faultRegistry.get(type);
  if (!fault?.randomDefault) return { name, match, scenario: type };
  const l7 = fault.layer === 'http' && match.protocol === undefined && match.http === undefined && match.grpc === undefined;
  // Handshake faults act on TLS connections: without a server name to match, any TLS connection.
  const tls = fault.handshake !== undefined && match.protocol === undefined && match.sni === undefined;
  return { name, match: l7 ? { ...match, protocol: 'http' } : tls ? { ...match, protocol: 'tls' } : match, faults: [{ ...fault.randomDefault }] };
}

/** mulberry32: a small, fast, seedable generator of uniform numbers in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One tick of random mode: a fault drawn (type) or not (null). */
export interface RandomDraw {
  tick: number;
  type: string | null;
}

/** The draws of a random run: one per whole interval within `duration`. */
export function drawRandom(spec: RandomSpec, seed: number): RandomDraw[] {
  const random = seededRandom(seed);
  const ticks = Math.floor(spec.duration / spec.interval);
  const draws: RandomDraw[] = [];
  for (let tick = 0; tick < ticks; tick++) {
    const hit = random() < spec.probability;
    const pick = random();
    draws.push({ tick, type: hit ? (spec.types[Math.floor(pick * spec.types.length)] as string) : null });
  }
  return draws;
}
