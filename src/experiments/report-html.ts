import type { ProbeReport, Report } from './report.js';
import type { Stats } from './stats.js';

/**
 * The report as one self-contained HTML page: inline CSS, an inline SVG timeline per probe
 * (latency of every sample, failures in red, fault windows shaded, the latency bound dashed, a
 * success strip below), and the tables. No script and no external asset: it opens from a file,
 * offline, and its Content-Security-Policy forbids loading anything.
 */

const esc = (value: unknown): string =>
  String(value).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
const ms = (v: number | null) => (v === null ? '—' : `${v.toFixed(1)} ms`);
const pct = (v: number | null) => (v === null ? '—' : `${(v * 100).toFixed(1)}%`);

const W = 960;
const H = 220;
const PAD = { left: 56, right: 12, top: 10, bottom: 44 };
const STRIP = 10;

function niceMax(value: number): number {
  const exp = 10 ** Math.floor(Math.log10(Math.max(value, 1)));
  return [1, 2, 5, 10].map((m) => m * exp).find((v) => v >= value) ?? value;
}

/** The timeline of one probe. */
function chart(report: Report, probe: ProbeReport): string {
  const samples = report.samples.filter((s) => s.probe === probe.name);
  const span = Math.max(report.durationMs, 1);
  const top = niceMax(Math.max(...samples.map((s) => s.latencyMs), probe.maxLatencyMs ?? 0, 1) * 1.1);
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const x = (t: number) => PAD.left + (Math.min(Math.max(t, 0), span) / span) * plotW;
  const y = (v: number) => PAD.top + plotH - (Math.min(v, top) / top) * plotH;
  const parts: string[] = [];
  for (const w of report.windows) {
    parts.push(`<rect class="fault-window" x="${x(w.start).toFixed(1)}" y="${PAD.top}" width="${Math.max(1, x(w.end) - x(w.start)).toFixed(1)}" height="${plotH}"><title>${esc(`${w.step}: ${w.rules.join(', ')} (${(w.start / 1000).toFixed(2)}s-${(w.end / 1000).toFixed(2)}s)`)}</title></rect>`);
  }
  for (let i = 0; i <= 4; i++) {
    const v = (top / 4) * i;
    parts.push(`<line class="grid" x1="${PAD.left}" x2="${W - PAD.right}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}"/><text class="axis" x="${PAD.left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${esc(`${Math.round(v)}ms`)}</text>`);
  }
  for (let i = 0; i <= 6; i++) {
    const t = (span / 6) * i;
    parts.push(`<text class="axis" x="${x(t).toFixed(1)}" y="${H - 4}" text-anchor="middle">${(t / 1000).toFixed(1)}s</text>`);
  }
  for (const at of [report.phases.before.end, report.phases.method.end]) {
    parts.push(`<line class="phase" x1="${x(at).toFixed(1)}" x2="${x(at).toFixed(1)}" y1="${PAD.top}" y2="${PAD.top + plotH}"/>`);
  }
  if (probe.maxLatencyMs !== null) {
    parts.push(`<line class="bound" x1="${PAD.left}" x2="${W - PAD.right}" y1="${y(probe.maxLatencyMs).toFixed(1)}" y2="${y(probe.maxLatencyMs).toFixed(1)}"><title>maxLatency ${probe.maxLatencyMs} ms</title></line>`);
  }
  const stripY = PAD.top + plotH + 8;
  const cell = Math.max(1, plotW / Math.max(samples.length, 1) / 1.2);
  for (const s of samples) {
    const state = s.ok ? 'ok' : 'fail';
    const title = esc(`${(s.t / 1000).toFixed(2)}s: ${s.ok ? 'ok' : 'failed'}, ${s.latencyMs} ms${s.status ? `, ${s.status}` : ''}${s.error ? `, ${s.error}` : ''}`);
    parts.push(`<circle class="sample ${state}" cx="${x(s.t).toFixed(1)}" cy="${y(s.latencyMs).toFixed(1)}" r="2.5"><title>${title}</title></circle>`);
    parts.push(`<rect class="strip ${state}" x="${x(s.t).toFixed(1)}" y="${stripY}" width="${cell.toFixed(1)}" height="${STRIP}"/>`);
  }
  return `<svg class="timeline" data-probe="${esc(probe.name)}" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(`latency and success of probe ${probe.name} over time`)}">${parts.join('')}</svg>`;
}

const statsRow = (phase: string, s: Stats) =>
  `<tr><td>${phase}</td><td>${s.samples}</td><td>${pct(s.availability)}</td><td>${pct(s.errorRate)}</td><td>${ms(s.p50)}</td><td>${ms(s.p99)}</td></tr>`;

function probeSection(report: Report, probe: ProbeReport): string {
  const recovery = report.windows.map((w, i) => `<tr><td>${esc(w.step)}</td><td>${(w.start / 1000).toFixed(2)}s – ${(w.end / 1000).toFixed(2)}s</td><td>${probe.recoveryMs[i] === null ? 'not recovered' : ms(probe.recoveryMs[i] ?? null)}</td></tr>`);
  return `<section class="probe"><h2>Probe ${esc(probe.name)} <small>${esc(probe.watches)}, every ${probe.intervalMs} ms</small></h2>
${chart(report, probe)}
<table><thead><tr><th>phase</th><th>samples</th><th>availability</th><th>error rate</th><th>p50</th><th>p99</th></tr></thead><tbody>
${statsRow('before', probe.before)}${statsRow('during', probe.during)}${statsRow('after', probe.after)}${statsRow('overall', probe.overall)}
</tbody></table>
${recovery.length ? `<table class="recovery"><thead><tr><th>fault window</th><th>when</th><th>time to recover</th></tr></thead><tbody>${recovery.join('')}</tbody></table>` : ''}
</section>`;
}

/** Shadow traffic during the run: one row per target and mirror rule. */
function driftSection(report: Report): string {
  if (!report.drift) return '';
  const pct = (r: number | null) => (r === null ? '—' : `${(r * 100).toFixed(1)}%`);
  const rows = report.drift.targets.flatMap((t) => t.rules.map((r) => `<tr><td>${esc(t.target)}</td><td>${esc(r.rule)}</td><td>${r.match}</td><td>${r.drift}</td><td>${r.shadowError}</td><td>${r.skipped}</td><td>${pct(r.driftRatio)}</td></tr>`));
  return `<h2>Shadow traffic</h2><table class="drift"><thead><tr><th>target</th><th>mirror rule</th><th>match</th><th>drift</th><th>shadow error</th><th>skipped</th><th>drift ratio</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

/** podKill and scale steps, with their recovery time. */
function kubernetesSection(report: Report): string {
  if (report.kubernetes.length === 0) return '';
  const rows = report.kubernetes.map((k) => {
    const what = k.action === 'podKill' ? `deleted ${(k.pods ?? []).join(', ')}` : `deployment ${k.deployment}: ${k.from} → ${k.to} replicas${k.settleMs === null || k.settleMs === undefined ? '' : ` (ready after ${k.settleMs} ms)`}, back to ${k.from}`;
    return `<tr><td>${esc(k.step)}</td><td>${esc(k.action)}</td><td>${esc(what)}</td><td>${k.mttrMs === null ? esc(k.error ?? 'not recovered') : `${k.mttrMs} ms`}</td></tr>`;
  });
  const mttr = report.mttr?.meanMs === null || report.mttr === null ? '' : ` MTTR: mean ${report.mttr.meanMs} ms, max ${report.mttr.maxMs} ms.`;
  return `<h2>Kubernetes steps</h2><p>${report.kubernetes.length} step(s).${esc(mttr)}</p><table class="kubernetes"><thead><tr><th>step</th><th>action</th><th>what</th><th>recovered after (MTTR)</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

/** The HTML page of a report. */
export function renderHtml(report: Report): string {
  const rollback = report.rollback.completed
    ? `complete${report.rollback.completedAt !== null && report.rollback.startedAt !== null ? ` in ${(report.rollback.completedAt - report.rollback.startedAt).toFixed(1)} ms` : ' (nothing was left to remove)'}`
    : `INCOMPLETE: ${report.rollback.targets.filter((x) => x.error).map((x) => `${x.target}: ${x.error}`).join('; ')}`;
  const events = report.events.map((e) => `<tr><td>${(e.t / 1000).toFixed(2)}s</td><td>${esc(e.type)}</td><td>${esc(e.message)}</td></tr>`).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>faultline experiment ${esc(report.experiment)}: ${esc(report.verdict.result)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1000px}
h1 small,h2 small{font-weight:normal;color:#666}
.verdict{padding:8px 12px;border-radius:4px;display:inline-block;font-weight:bold}
.verdict.passed{background:#d8f5d8}.verdict.failed{background:#fde2c4}.verdict.aborted{background:#f8d0d0}
table{border-collapse:collapse;margin:8px 0 16px}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}
svg.timeline{display:block;background:#fafafa;border:1px solid #ddd}
.fault-window{fill:#f5a623;fill-opacity:.22}
.grid{stroke:#e4e4e4}.axis{font-size:11px;fill:#666}.phase{stroke:#888;stroke-dasharray:2 3}
.bound{stroke:#c00;stroke-dasharray:6 4}
.sample.ok{fill:#2a7ab8}.sample.fail{fill:#d0021b}.strip.ok{fill:#7cc47c}.strip.fail{fill:#d0021b}
</style></head><body>
<h1>Experiment ${esc(report.experiment)} <small>${esc(report.file)}</small></h1>
<p><span class="verdict ${esc(report.verdict.result)}">${esc(report.verdict.result.toUpperCase())}</span> ${esc(report.verdict.reason)}</p>
<p>Started ${esc(report.startedAt)}, ${(report.durationMs / 1000).toFixed(1)} s, seed ${report.seed}. Rollback: ${esc(rollback)}.
${report.windows.length} fault window(s), shaded on the timelines; dotted lines mark the end of the steady-state check and of the method.</p>
${report.probes.map((p) => probeSection(report, p)).join('\n')}
${driftSection(report)}
${kubernetesSection(report)}
<h2>Events</h2><table class="events"><thead><tr><th>t</th><th>event</th><th>what</th></tr></thead><tbody>${events}</tbody></table>
<p><small>Every number here is computed from the raw samples in the JSON report; definitions are in its <code>definitions</code>.</small></p>
</body></html>
`;
}
