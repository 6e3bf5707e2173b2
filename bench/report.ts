/** The results' schema, and the JSON, Markdown and SVG written to bench/results/. */
import { z } from 'zod';

const figure = z.number().finite().optional();
export const pathResultSchema = z.object({
  describe: z.string(),
  unsupported: z.string().optional(),
  bulkMiBs: figure,
  /** CPU time the proxy process used per GiB relayed (all threads). */
  bulkCpuSPerGiB: figure,
  echoP50us: figure,
  echoP99us: figure,
  httpRps: figure,
  httpP50us: figure,
  httpP99us: figure,
  fastHttpRps: figure,
  connPerSec: figure,
  /** CPU time the proxy process used per new connection. */
  connCpuUs: figure,
  grpcRps: figure,
  wsMsgs: figure,
  idleKiBPerConn: figure,
});

/**
 * A figure's samples: one per round (or per repetition), as median, min, max, count, and the
 * interquartile mean (the mean of the middle half: a trimmed mean, steadier than the median).
 */
export const statsSchema = z.object({ median: z.number(), min: z.number(), max: z.number(), n: z.number().int().positive(), trimmedMean: z.number().optional() });
export type Stats = z.infer<typeof statsSchema>;

const transparentFigures = z.object({ rps: z.number(), p50us: z.number(), echoP50us: z.number() });

export const resultsSchema = z.object({
  version: z.literal(2),
  startedAt: z.string(),
  mode: z.enum(['smoke', 'quick', 'full']),
  placement: z.string(),
  rounds: z.number().int().positive(),
  node: z.string(),
  /** Per path, each figure's median over the rounds. */
  paths: z.record(z.string(), pathResultSchema),
  /** Per path and figure, the spread of the per-round samples. */
  spread: z.record(z.string(), z.record(z.string(), statsSchema)),
  /** Per path and figure, the ratio to node-pipe measured in the same round (paired), over the rounds. */
  ratios: z.record(z.string(), z.record(z.string(), statsSchema)),
  /** Bulk through one connection, each sample a fresh proxy process. */
  fresh: z
    .object({
      bytes: z.number(),
      processes: z.number().int().positive(),
      /** Per configuration, per process: throughput, the proxy's CPU time and minor page faults per GiB. */
      configs: z.record(z.string(), z.object({ describe: z.string(), mibs: z.array(z.number()), cpuSPerGiB: z.array(z.number()), faultsPerGiB: z.array(z.number()) })),
    })
    .optional(),
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
      /** On-demand over direct, one ratio per sample (the two pods measured in turn, round trip by round trip). */
      onDemandRatios: z.object({ rps: statsSchema, p50us: statsSchema, echoP50us: statsSchema }).optional(),
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
  /** What was not measured and why, and other remarks, one line each. */
  notes: z.array(z.string()),
  /** Whether the targets were checked (not in a smoke run). */
  checked: z.boolean(),
  missed: z.array(z.string()),
});

export type Results = z.infer<typeof resultsSchema>;
export type Workload = Exclude<keyof z.infer<typeof pathResultSchema>, 'describe' | 'unsupported'>;

/** Median, min, max, count and interquartile mean of `xs` (not empty). */
export function stats(xs: number[]): Stats {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length / 2;
  const median = sorted.length % 2 ? (sorted[Math.floor(mid)] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
  const cut = Math.floor(sorted.length / 4);
  const middle = sorted.slice(cut, sorted.length - cut);
  const trimmedMean = middle.reduce((a, b) => a + b, 0) / middle.length;
  return { median, min: sorted[0] as number, max: sorted.at(-1) as number, n: sorted.length, trimmedMean };
}

export const COLUMNS: [Workload, string, 'higher' | 'lower'][] = [
  ['bulkMiBs', 'bulk MiB/s', 'higher'],
  ['bulkCpuSPerGiB', 'proxy CPU s/GiB', 'lower'],
  ['echoP50us', 'echo p50 us', 'lower'],
  ['echoP99us', 'echo p99 us', 'lower'],
  ['httpRps', 'HTTP req/s', 'higher'],
  ['httpP50us', 'HTTP p50 us', 'lower'],
  ['fastHttpRps', 'HTTP req/s (HAProxy origin)', 'higher'],
  ['connPerSec', 'new conn/s', 'higher'],
  ['connCpuUs', 'proxy CPU us/conn', 'lower'],
  ['grpcRps', 'gRPC req/s', 'higher'],
  ['wsMsgs', 'WS msg/s', 'higher'],
  ['idleKiBPerConn', 'KiB/idle conn', 'lower'],
];

/** Figures that are not compared with direct (direct has no proxy process). */
const PROXY_ONLY = new Set<Workload>(['idleKiBPerConn', 'bulkCpuSPerGiB', 'connCpuUs']);

const num = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));

/** The largest distance of a sample from the median, in % of the median: "±4%". */
export function spreadPct(s: Stats | undefined): string {
  if (!s || s.n < 2 || s.median === 0) return '';
  return ` ±${((Math.max(s.max - s.median, s.median - s.min) / Math.abs(s.median)) * 100).toFixed(0)}%`;
}

const cell = (r: Results, path: string, w: Workload) => {
  const v = r.paths[path]?.[w];
  const d = r.paths.direct?.[w];
  if (v === undefined) return '—';
  // Less RSS after opening connections than before: the method cannot see so little memory.
  if (w === 'idleKiBPerConn' && v < 0) return `~0 (RSS fell by ${num(-v)}: below what RSS resolves)`;
  const ratio = d && path !== 'direct' && !PROXY_ONLY.has(w) ? ` (${(v / d).toFixed(2)}x)` : '';
  return `${num(v)}${ratio}${spreadPct(r.spread[path]?.[w])}`;
};

const range = (s: Stats) => `${s.median.toFixed(3)} [${s.min.toFixed(3)}–${s.max.toFixed(3)}]`;
const rangeWithMean = (s: Stats) => `${range(s)}, interquartile mean ${(s.trimmedMean ?? s.median).toFixed(3)}`;

export function markdown(r: Results): string {
  const lines = [
    `# faultline bench, ${r.startedAt} (${r.mode}, ${r.rounds} rounds)`,
    '',
    `Placement: ${r.placement}. Node ${r.node}. Each cell: the median over the rounds (ratio to direct in the same round), ±the largest distance of a round from that median.`,
    '',
    `| path | ${COLUMNS.map((c) => c[1]).join(' | ')} |`,
    `|---|${COLUMNS.map(() => '---').join('|')}|`,
    ...Object.entries(r.paths).map(([name, p]) => (p.unsupported ? `| ${name} | ${p.unsupported} |` : `| ${name} | ${COLUMNS.map(([w]) => cell(r, name, w)).join(' | ')} |`)),
  ];
  const compared = Object.keys(r.ratios).filter((p) => p !== 'node-pipe' && Object.keys(r.ratios[p] ?? {}).length > 0);
  if (compared.length > 0) {
    const ws = COLUMNS.filter(([w]) => compared.some((p) => r.ratios[p]?.[w]));
    lines.push('', 'Ratio to node-pipe, paired (each round: the path over node-pipe in that round): median [min–max] over the rounds.', '');
    lines.push(`| path | ${ws.map((c) => c[1]).join(' | ')} |`, `|---|${ws.map(() => '---').join('|')}|`);
    for (const p of compared) lines.push(`| ${p} | ${ws.map(([w]) => (r.ratios[p]?.[w] ? range(r.ratios[p][w] as Stats) : '—')).join(' | ')} |`);
  }
  if (r.fresh) {
    const { configs, processes, bytes } = r.fresh;
    lines.push('', `Bulk, ${(bytes / 1024 ** 2).toFixed(0)} MiB through one connection, each sample a fresh proxy process (${processes} each, alternating):`, '');
    lines.push('| proxy | MiB/s min | median | max | proxy CPU s/GiB median [min–max] | page faults/GiB median [min–max] |', '|---|---|---|---|---|---|');
    for (const [name, c] of Object.entries(configs)) {
      if (c.mibs.length === 0) continue;
      const m = stats(c.mibs);
      const cpu = stats(c.cpuSPerGiB);
      const f = stats(c.faultsPerGiB);
      const k = (x: number) => `${(x / 1000).toFixed(0)}k`;
      lines.push(`| ${name} (${c.describe}) | ${m.min.toFixed(0)} | ${m.median.toFixed(0)} | ${m.max.toFixed(0)} | ${cpu.median.toFixed(2)} [${cpu.min.toFixed(2)}–${cpu.max.toFixed(2)}] | ${k(f.median)} [${k(f.min)}–${k(f.max)}] |`);
    }
  }
  if (r.accuracy) {
    const a = r.accuracy;
    lines.push('', '| accuracy | value |', '|---|---|');
    lines.push(`| latency error at 100 ms, p50 / p99 | ${a.latencyErrorP50Ms.toFixed(2)} / ${a.latencyErrorP99Ms.toFixed(2)} ms |`);
    for (const [rate, e] of Object.entries(a.bandwidthErrorPct)) lines.push(`| bandwidth error at ${rate} | ${e.toFixed(2)}% |`);
    lines.push(`| probability error (0.3) | ${a.probabilityError.toFixed(3)} |`, `| policy change to effect | ${a.reloadToEffectMs.toFixed(0)} ms |`);
  }
  if (r.transparent) {
    const { direct: d, intercepted: i, onDemand: o, onDemandRatios: q, onDemandChange: c } = r.transparent;
    // Each path's value and its ratio to direct, in the same run.
    const cells = (f: (x: typeof d) => number) => [i, ...(o ? [o] : [])].map((x) => `${f(x).toFixed(0)} (${(f(x) / f(d)).toFixed(3)}x)`).join(' | ');
    lines.push('', `| transparent interception (namespaces, 1 connection) | direct | always |${o ? ' on-demand, no fault |' : ''}`, `|---|---|---|${o ? '---|' : ''}`);
    lines.push(`| HTTP keep-alive req/s | ${d.rps.toFixed(0)} | ${cells((x) => x.rps)} |`);
    lines.push(`| HTTP p50 us | ${d.p50us.toFixed(0)} | ${cells((x) => x.p50us)} |`);
    lines.push(`| echo p50 us | ${d.echoP50us.toFixed(0)} | ${cells((x) => x.echoP50us)} |`);
    if (q) {
      lines.push('', `On-demand over direct, one ratio per sample (${q.rps.n} samples, the two pods in turn, round trip by round trip): median [min–max], and the mean of the middle half.`, '');
      lines.push('| figure | ratio |', '|---|---|', `| HTTP keep-alive req/s | ${rangeWithMean(q.rps)} |`, `| HTTP p50 us | ${rangeWithMean(q.p50us)} |`, `| echo p50 us | ${rangeWithMean(q.echoP50us)} |`);
    }
    if (c) {
      lines.push('', `| on-demand: policy change to rules changed (${c.changes} changes each) | median | max |`, '|---|---|---|');
      lines.push(`| policy file (watched), install | ${c.fileInstallMedianMs} ms | ${c.fileInstallMaxMs} ms |`, `| policy file, removal | ${c.fileRemoveMedianMs} ms | |`);
      lines.push(`| admin API POST /rules, install | ${c.apiInstallMedianMs} ms | ${c.apiInstallMaxMs} ms |`, `| admin API DELETE /rules/NAME, removal | ${c.apiRemoveMedianMs} ms | |`);
    }
  }
  if (r.notes.length > 0) lines.push('', ...r.notes.map((n) => `- ${n}`));
  if (!r.checked) lines.push('', 'Targets not checked (smoke run: too short to say).');
  else lines.push('', r.missed.length ? `Targets missed:\n${r.missed.map((m) => `- ${m}`).join('\n')}` : 'Every target in bench/targets.ts met.');
  return `${lines.join('\n')}\n`;
}

/**
 * A bar chart of each path's ratio to direct, one group per workload, on an axis long enough for
 * the largest ratio (ticks every 0.5x, the 1x line dashed): no bar is cut short.
 */
export function svg(r: Results): string {
  const paths = Object.keys(r.paths).filter((p) => p !== 'direct' && !r.paths[p]?.unsupported);
  const workloads = COLUMNS.filter(([w]) => !PROXY_ONLY.has(w) && w !== 'echoP99us' && w !== 'httpP50us');
  const colors = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f'];
  const bar = 14;
  const groupHeight = paths.length * bar + 16;
  const width = 760;
  const left = 200;
  const span = 480;
  const ratioOf = (p: string, w: Workload) => {
    const v = r.paths[p]?.[w];
    const d = r.paths.direct?.[w];
    return v !== undefined && d ? v / d : 0;
  };
  const largest = Math.max(1, ...workloads.flatMap(([w]) => paths.map((p) => ratioOf(p, w))));
  const axisMax = Math.max(1.5, Math.ceil(largest * 2) / 2);
  const x = (ratio: number) => left + (ratio / axisMax) * span;
  const out: string[] = [];
  workloads.forEach(([w, label, better], g) => {
    const y0 = 30 + g * groupHeight;
    out.push(`<text x="10" y="${y0 + 10}" font-size="12" font-weight="bold">${label} (${better} is better)</text>`);
    paths.forEach((p, i) => {
      const ratio = ratioOf(p, w);
      const y = y0 + 14 + i * bar;
      out.push(`<rect x="${left}" y="${y}" width="${(x(ratio) - left).toFixed(1)}" height="${bar - 3}" fill="${colors[i % colors.length]}"/>`);
      out.push(`<text x="${left - 5}" y="${y + 10}" font-size="10" text-anchor="end">${p}</text>`);
      out.push(`<text x="${(x(ratio) + 5).toFixed(1)}" y="${y + 10}" font-size="10">${ratio ? `${ratio.toFixed(2)}x` : 'n/a'}</text>`);
    });
  });
  const bottom = 30 + workloads.length * groupHeight;
  const ticks: string[] = [];
  for (let v = 0; v <= axisMax + 1e-9; v += 0.5) {
    ticks.push(`<line x1="${x(v).toFixed(1)}" y1="${bottom}" x2="${x(v).toFixed(1)}" y2="${bottom + 4}" stroke="#333"/>`);
    ticks.push(`<text x="${x(v).toFixed(1)}" y="${bottom + 15}" font-size="10" text-anchor="middle">${v.toFixed(1)}x</text>`);
  }
  const height = bottom + 24;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width + 40}" height="${height}" font-family="sans-serif">
<text x="10" y="18" font-size="14">faultline: ratio to direct (${r.mode}, ${r.startedAt})</text>
<line x1="${x(1).toFixed(1)}" y1="24" x2="${x(1).toFixed(1)}" y2="${bottom}" stroke="#999" stroke-dasharray="4 3"/>
<line x1="${left}" y1="${bottom}" x2="${left + span}" y2="${bottom}" stroke="#333"/>
${ticks.join('\n')}
${out.join('\n')}
</svg>
`;
}
