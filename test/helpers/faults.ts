import type { DatagramFate, DatagramStage, DnsEffect, DnsQuestion, FaultType, StreamDirection } from '../../src/faults/types.js';

/** A fault's datagram stage with its options validated, what it emits and the fates it counts. */
export function datagramStage(fault: FaultType<any>, options: object, random: () => number = Math.random, direction: StreamDirection = 'downstream') {
  const out: Buffer[] = [];
  const fates: DatagramFate[] = [];
  const parsed = fault.options.parse(options) as object;
  const stage = fault.datagram?.(parsed, { direction, random, emit: (d) => out.push(d), count: (f) => fates.push(f) }) as DatagramStage;
  return { stage, out, fates };
}

/** What a DNS fault does to one question (options validated). */
export function dnsEffect(fault: FaultType<any>, options: object, question: Partial<DnsQuestion> = {}, random: () => number = Math.random): DnsEffect | undefined {
  return fault.dns?.(fault.options.parse(options) as object, { name: 'api.example.test', type: 'A', transport: 'udp', ...question }, random);
}

/** A generator that repeats `values` in turn (a scripted Math.random). */
export const scripted = (...values: number[]) => {
  let i = 0;
  return () => values[i++ % values.length] as number;
};
