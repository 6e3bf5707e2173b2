import type { DatagramFate, DatagramStage, StreamDirection } from '../faults/types.js';
import type { CompiledFault } from '../policy/compile.js';

interface Node {
  key: string;
  stage: DatagramStage;
  next: Node | undefined;
}

/**
 * One direction of a UDP flow: its datagram stages in fault order, `input → stage → stage →
 * deliver`. With no stage a datagram goes straight to `deliver`. Rewiring keeps the stages of
 * faults that stay (their held datagrams with them); a removed stage hands on what it holds to
 * what follows it.
 */
export class DatagramChain {
  private nodes: Node[] = [];

  constructor(
    private readonly direction: StreamDirection,
    private readonly deliver: (datagram: Buffer) => void,
    private readonly count: (fate: DatagramFate) => void,
    private readonly random: () => number,
  ) {}

  push(datagram: Buffer): void {
    const head = this.nodes[0];
    if (head) head.stage.push(datagram);
    else this.deliver(datagram);
  }

  get size(): number {
    return this.nodes.length;
  }

  /** Makes the chain the stages of `faults` (those acting on this direction), in order. */
  rewire(faults: readonly CompiledFault[]): void {
    const wanted = faults.filter((f) => f.type.datagram && f.streams.includes(this.direction));
    const old = new Map(this.nodes.map((n) => [n.key, n]));
    const nodes = wanted.map((fault) => old.get(fault.key) ?? this.node(fault));
    nodes.forEach((node, i) => (node.next = nodes[i + 1]));
    const kept = new Set(nodes);
    const removed = this.nodes.filter((n) => !kept.has(n));
    // What a removed stage holds goes on to the first stage after it that stays, else out.
    for (const node of removed) {
      const after = this.nodes.slice(this.nodes.indexOf(node) + 1).find((n) => kept.has(n));
      node.next = after;
    }
    this.nodes = nodes;
    for (const node of removed) node.stage.interrupt();
  }

  destroy(): void {
    for (const node of this.nodes) node.stage.destroy();
    this.nodes = [];
  }

  private node(fault: CompiledFault): Node {
    const node: Node = { key: fault.key, stage: undefined as unknown as DatagramStage, next: undefined };
    node.stage = fault.type.datagram!(fault.options, {
      direction: this.direction,
      random: this.random,
      count: this.count,
      emit: (datagram) => (node.next ? node.next.stage.push(datagram) : this.deliver(datagram)),
    });
    return node;
  }
}
