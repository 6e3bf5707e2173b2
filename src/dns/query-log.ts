/** One DNS query as the admin API shows it (`GET /dns`). */
export interface QueryRecord {
  at: string;
  transport: 'udp' | 'tcp';
  client: string;
  /** null for a message that was not a query the proxy could read. */
  name: string | null;
  type: string | null;
  /** The rule whose fault decided the answer ("" when none acted). */
  rule: string;
  /** Every fault that acted, as rule/fault. */
  faults: string[];
  /** The rcode the client got; "none" when it got no answer. */
  rcode: string;
  ms: number;
}

/** The last QueryLog.SIZE queries, newest last: a ring, so memory stays bounded under floods. */
export class QueryLog {
  static readonly SIZE = 200;
  private readonly ring: QueryRecord[] = [];
  private next = 0;
  total = 0;

  add(record: QueryRecord): void {
    this.total++;
    if (this.ring.length < QueryLog.SIZE) this.ring.push(record);
    else this.ring[this.next] = record;
    this.next = (this.next + 1) % QueryLog.SIZE;
  }

  /** Oldest first. */
  list(): QueryRecord[] {
    return this.ring.length < QueryLog.SIZE ? [...this.ring] : [...this.ring.slice(this.next), ...this.ring.slice(0, this.next)];
  }
}
