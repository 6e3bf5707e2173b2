import type { Sample } from './probes.js';
import type { RunEvent } from './report.js';

/** How often plain (non-TTY) output prints a probe summary line. */
const SUMMARY_EVERY_MS = 5000;

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

/**
 * What a run shows while it goes: every event as a line; on a TTY a status line below them,
 * redrawn on each sample (probes' last latency and availability so far); elsewhere a summary
 * line every 5 s instead, so logs stay plain.
 */
export class Progress {
  private readonly counts = new Map<string, { n: number; ok: number; last: Sample }>();
  private lastSummary = 0;
  private status = '';

  constructor(private readonly out: NodeJS.WriteStream | { write(text: string): boolean; isTTY?: boolean }, private readonly quiet = false) {}

  event(event: RunEvent): void {
    if (this.quiet && event.type !== 'verdict' && event.type !== 'abort') return;
    this.line(`[${seconds(event.t).padStart(7)}] ${event.type.padEnd(9)} ${event.message}`);
  }

  sample(sample: Sample): void {
    const c = this.counts.get(sample.probe) ?? { n: 0, ok: 0, last: sample };
    c.n++;
    if (sample.ok) c.ok++;
    c.last = sample;
    this.counts.set(sample.probe, c);
    if (this.quiet) return;
    const summary = [...this.counts].map(([name, x]) => `${name} ${x.last.ok ? 'ok' : 'FAIL'} ${x.last.latencyMs.toFixed(0)}ms ${((x.ok / x.n) * 100).toFixed(1)}%`).join(' | ');
    if (this.out.isTTY) {
      this.status = `[${seconds(sample.t).padStart(7)}] ${summary}`;
      this.out.write(`\r\x1b[2K${this.status}`);
    } else if (sample.t - this.lastSummary >= SUMMARY_EVERY_MS) {
      this.lastSummary = sample.t;
      this.out.write(`[${seconds(sample.t).padStart(7)}] probes    ${summary}\n`);
    }
  }

  /** Ends the status line, so what follows starts on a fresh line. */
  end(): void {
    if (this.out.isTTY && this.status) this.out.write('\r\x1b[2K');
    this.status = '';
  }

  private line(text: string): void {
    if (this.out.isTTY && this.status) this.out.write(`\r\x1b[2K${text}\n${this.status}`);
    else this.out.write(`${text}\n`);
  }
}
