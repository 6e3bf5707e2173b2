/** The results' schema, and the JSON, Markdown and SVG written to bench/results/. */
import { z } from 'zod';

const figure = z.number().finite().optional();
export const pathResultSchema = z.object({
  describe: z.string(),
  unsupported: z.string().optional(),
  bulkMiBs: figure,
  echoP50us: figure,
  echoP99us: figure,
  httpRps: figure,
  httpP50us: figure,
  httpP99us: figure,
  fastHttpRps: figure,
  connPerSec: figure,
  grpcRps: figure,
  wsMsgs: figure,
  idleKiBPerConn: figure,
});

const transparentFigures = z.object({ rps: z.number(), p50us: z.number(), echoP50us: z.number() });

export const resultsSchema = z.object({
  version: z.literal(1),
  startedAt: z.string(),
  mode: z.enum(['smoke', 'quick', 'full']),
  placement: z.string(),
  rounds: z.number().int().positive(),
  node: z.string(),
  paths: z.record(z.string(), pathResultSchema),
  accuracy: z
    .object({
      latencyErrorP50Ms: z.number(),
      latencyErrorP99Ms: z.number(),
      bandwidthErrorPct: z.record(z.string(), z.number()),
      probabilityError: z.number(),
      reloadToEffectMs: z.number(),
    })
    .optional(),
  /** Transparent interception in network namespaces vs the same client and app without it. */
  transparent: z
    .object({
      direct: transparentFigures,
      intercepted: transparentFigures,
      /** On-demand interception with no active fault (after one came and went). */
      onDemand: transparentFigures.optional(),
      onDemandChange: z
        .object({
          changes: z.number(),
          fileInstallMedianMs: z.number(),
          fileInstallMaxMs: z.number(),
          fileRemoveMedianMs: z.number(),
          apiInstallMedianMs: z.number(),
          apiInstallMaxMs: z.number(),
          apiRemoveMedianMs: z.number(),
        })
        .optional(),
    })
    .optional(),
  missed: z.array(z.string()),
});

export type Results = z.infer<typeof resultsSchema>;
export type Workload = Exclude<keyof z.infer<typeof pathResultSchema>, 'describe' | 'unsupported'>;

export const COLUMNS: [Workload, string, 'higher' | 'lower'][] = [
  ['bulkMiBs', 'bulk MiB/s', 'higher'],
  ['echoP50us', 'echo p50 us', 'lower'],
  ['echoP99us', 'echo p99 us', 'lower'],
  ['httpRps', 'HTTP req/s', 'higher'],
  ['httpP50us', 'HTTP p50 us', 'lower'],
  ['fastHttpRps', 'HTTP req/s (HAProxy origin)', 'higher'],
  ['connPerSec', 'new conn/s', 'higher'],
  ['grpcRps', 'gRPC req/s', 'higher'],
  ['wsMsgs', 'WS msg/s', 'higher'],
  ['idleKiBPerConn', 'KiB/idle conn', 'lower'],
];

const cell = (r: Results, path: string, w: Workload) => {
  const v = r.paths[path]?.[w];
  const d = r.paths.direct?.[w];
  if (v === undefined) return '—';
  const ratio = d && path !== 'direct' && w !== 'idleKiBPerConn' ? ` (${(v / d).toFixed(2)}x)` : '';
  return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)}${ratio}`;
};

export function markdown(r: Results): string {
  const lines = [
    `# faultline bench, ${r.startedAt} (${r.mode}, ${r.rounds} rounds, medians; ratios to direct in the same round)`,
    '',
    `Placement: ${r.placement}. Node ${r.node}.`,
    '',
    `| path | ${COLUMNS.map((c) => c[1]).join(' | ')} |`,
    `|---|${COLUMNS.map(() => '---').join('|')}|`,
    ...Object.entries(r.paths).map(([name, p]) => (p.unsupported ? `| ${name} | ${p.unsupported} |` : `| ${name} | ${COLUMNS.map(([w]) => cell(r, name, w)).join(' | ')} |`)),
  ];
  if (r.accuracy) {
    const a = r.accuracy;
    lines.push('', '| accuracy | value |', '|---|---|');
    lines.push(`| latency error at 100 ms, p50 / p99 | ${a.latencyErrorP50Ms.toFixed(2)} / ${a.latencyErrorP99Ms.toFixed(2)} ms |`);
    for (const [rate, e] of Object.entries(a.bandwidthErrorPct)) lines.push(`| bandwidth error at ${rate} | ${e.toFixed(2)}% |`);
    lines.push(`| probability error (0.3) | ${a.probabilityError.toFixed(3)} |`, `| policy change to effect | ${a.reloadToEffectMs.toFixed(0)} ms |`);
  }
  if (r.transparent) {
    const { direct: d, intercepted: i, onDemand: o, onDemandChange: c } = r.transparent;
    // Each path's value and its ratio to direct, in the same run.
    const cells = (f: (x: typeof d) => number) => [i, ...(o ? [o] : [])].map((x) => `${f(x).toFixed(0)} (${(f(x) / f(d)).toFixed(3)}x)`).join(' | ');
    lines.push('', `| transparent interception (namespaces, 1 connection) | direct | always |${o ? ' on-demand, no fault |' : ''}`, `|---|---|---|${o ? '---|' : ''}`);
    lines.push(`| HTTP keep-alive req/s | ${d.rps.toFixed(0)} | ${cells((x) => x.rps)} |`);
    lines.push(`| HTTP p50 us | ${d.p50us.toFixed(0)} | ${cells((x) => x.p50us)} |`);
    lines.push(`| echo p50 us | ${d.echoP50us.toFixed(0)} | ${cells((x) => x.echoP50us)} |`);
    if (c) {
      lines.push('', `| on-demand: policy change to rules changed (${c.changes} changes each) | median | max |`, '|---|---|---|');
      lines.push(`| policy file (watched), install | ${c.fileInstallMedianMs} ms | ${c.fileInstallMaxMs} ms |`, `| policy file, removal | ${c.fileRemoveMedianMs} ms | |`);
      lines.push(`| admin API POST /rules, install | ${c.apiInstallMedianMs} ms | ${c.apiInstallMaxMs} ms |`, `| admin API DELETE /rules/NAME, removal | ${c.apiRemoveMedianMs} ms | |`);
    }
  }
  lines.push('', r.missed.length ? `Targets missed:\n${r.missed.map((m) => `- ${m}`).join('\n')}` : 'Every --check target met.');
  return `${lines.join('\n')}\n`;
}

/** A bar chart of each path's ratio to direct, one group per workload. */
export function svg(r: Results): string {
  const paths = Object.keys(r.paths).filter((p) => p !== 'direct' && !r.paths[p]?.unsupported);
  const workloads = COLUMNS.filter(([w]) => w !== 'idleKiBPerConn' && w !== 'echoP99us' && w !== 'httpP50us');
  const colors = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1'];
  const bar = 14;
  const groupHeight = paths.length * bar + 16;
  const width = 760;
  const scale = 420;
  const out: string[] = [];
  workloads.forEach(([w, label, better], g) => {
    const y0 = 30 + g * groupHeight;
    out.push(`<text x="10" y="${y0 + 10}" font-size="12" font-weight="bold">${label} (${better} is better)</text>`);
    paths.forEach((p, i) => {
      const v = r.paths[p]?.[w];
      const d = r.paths.direct?.[w];
      const ratio = v !== undefined && d ? v / d : 0;
      const y = y0 + 14 + i * bar;
      out.push(`<rect x="200" y="${y}" width="${Math.min(ratio, 1.6) * scale * 0.6}" height="${bar - 3}" fill="${colors[i % colors.length]}"/>`);
      out.push(`<text x="195" y="${y + 10}" font-size="10" text-anchor="end">${p}</text>`);
      out.push(`<text x="${205 + Math.min(ratio, 1.6) * scale * 0.6}" y="${y + 10}" font-size="10">${ratio ? `${ratio.toFixed(2)}x` : 'n/a'}</text>`);
    });
  });
  const height = 40 + workloads.length * groupHeight;
  const one = 200 + scale * 0.6;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">
<text x="10" y="18" font-size="14">faultline: ratio to direct (${r.mode}, ${r.startedAt})</text>
<line x1="${one}" y1="24" x2="${one}" y2="${height}" stroke="#999" stroke-dasharray="4 3"/>
${out.join('\n')}
</svg>
`;
}
