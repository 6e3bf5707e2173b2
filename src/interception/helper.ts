import { parseArgs } from 'node:util';
import { z } from 'zod';
import { logger } from '../log.js';
import { configFromFlags, familiesFor, type InterceptionFlags } from './config.js';
import { MAX_SELECTIONS, type Demand } from './demand.js';
import { RuleKeeper } from './rule-keeper.js';
import { MAX_LIST_ITEMS, parseCidrs } from './values.js';

/**
 * The root helper of on-demand interception: the one process of the sidecar that keeps root
 * (with NET_ADMIN and NET_RAW), while the data plane runs as the proxy's UID. The sidecar starts
 * it before dropping its privileges and talks to it over the IPC channel. It does one thing:
 * keep the kernel's rules equal to the demand it is sent. Its configuration (capture ports,
 * exemptions, lease) comes from its own command line, fixed at start; a message can only pick
 * traffic to redirect or partition within it, and is validated whole before anything runs. It
 * removes every rule when the sidecar goes away by any means (its IPC channel closes), or on
 * SIGTERM, and removes stale rules of a previous sidecar when it starts.
 */

const port = z.number().int().min(1).max(65535);
/** A CIDR exactly as parseCidrs normalizes it, nothing else. */
const cidr = z.string().max(64).refine((v) => {
  try {
    const parsed = parseCidrs(v, 'cidr');
    return parsed.length === 1 && parsed[0]?.cidr === v;
  } catch {
    return false;
  }
}, 'not a normalized CIDR');
const selectionShape = {
  direction: z.enum(['inbound', 'outbound']),
  family: z.union([z.literal(4), z.literal(6)]).optional(),
  source: cidr.optional(),
  sourcePort: port.optional(),
  destination: cidr.optional(),
  ports: z.array(port).min(1).max(MAX_LIST_ITEMS).optional(),
};
const familyAgrees = (s: { family?: 4 | 6 | undefined; source?: string | undefined; destination?: string | undefined }) =>
  [s.source, s.destination].every((c) => c === undefined || (s.family !== undefined && c.includes(':') === (s.family === 6)));
const selection = z.strictObject(selectionShape).refine(familyAgrees, 'family does not match the CIDRs');
const partition = z.strictObject({ ...selectionShape, mode: z.enum(['reject', 'blackhole']) }).refine(familyAgrees, 'family does not match the CIDRs');
const loss = z
  .strictObject({ ...selectionShape, probability: z.number().min(0.000001).max(1), streams: z.array(z.enum(['upstream', 'downstream'])).min(1).max(2) })
  .refine(familyAgrees, 'family does not match the CIDRs');
export const demandSchema = z.strictObject({
  redirect: z.array(selection).max(MAX_SELECTIONS),
  partition: z.array(partition).max(MAX_SELECTIONS),
  // DNS capture and packet loss: absent means none (a sidecar of before they existed).
  dns: z.boolean().optional(),
  loss: z.array(loss).max(MAX_SELECTIONS).optional(),
});

export const requestSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('apply'), id: z.number().int(), demand: demandSchema }),
  z.strictObject({ type: z.literal('prune'), id: z.number().int(), nat: z.boolean() }),
]);
export type HelperRequest = z.input<typeof requestSchema>;

/** What the helper answers a request with. */
export interface HelperReply {
  type: 'result';
  id: number;
  ok: boolean;
  rules?: string[];
  lingering?: string[];
  leaseEnd?: number;
  error?: string;
}

/** What the helper says once, when it is ready (stale rules removed) or cannot be. */
export type HelperHello = { type: 'ready'; families: (4 | 6)[] } | { type: 'fatal'; message: string };

/** The helper's options beyond the shared interception flags. */
export const HELPER_OPTIONS = ['inbound-ports', 'exclude-inbound-ports', 'exclude-outbound-ports', 'include-outbound-cidrs', 'exclude-outbound-cidrs', 'proxy-uid', 'proxy-gid', 'ipv6', 'inbound-capture-port', 'outbound-capture-port', 'sidecar-ports', 'dns-capture-port', 'lease-ms'] as const;

/** Answers one message: validated whole, then run; never throws. */
export function handle(keeper: RuleKeeper, message: unknown): HelperReply {
  const parsed = requestSchema.safeParse(message);
  const id = typeof (message as { id?: unknown })?.id === 'number' ? (message as { id: number }).id : -1;
  if (!parsed.success) return { type: 'result', id, ok: false, error: `refused: ${parsed.error.issues[0]?.message ?? 'invalid request'}` };
  const request = parsed.data;
  try {
    const installed = request.type === 'prune' ? keeper.prune(request.nat ? ['filter', 'nat'] : ['filter']) : keeper.apply(request.demand as Demand);
    return { type: 'result', id, ok: true, ...installed };
  } catch (err) {
    return { type: 'result', id, ok: false, error: (err as Error).message };
  }
}

/** `faultline interception-helper ...`: the process itself. Only the sidecar starts it (with an IPC channel). */
export function runHelper(argv: string[]): void {
  const log = logger.child({ component: 'interception-helper' });
  const send = (message: HelperHello | HelperReply) => process.send?.(message);
  if (!process.send) {
    process.stderr.write('faultline: interception-helper is started by `faultline sidecar --interception on-demand`, not by hand\n');
    process.exitCode = 1;
    return;
  }
  let keeper: RuleKeeper;
  try {
    const options = Object.fromEntries(HELPER_OPTIONS.map((name) => [name, { type: 'string' as const }]));
    const { values } = parseArgs({ args: argv, options, strict: true });
    const flag = (name: (typeof HELPER_OPTIONS)[number]) => values[name] as string | undefined;
    const flags: InterceptionFlags = {
      inboundPorts: flag('inbound-ports') ?? '*',
      excludeInboundPorts: flag('exclude-inbound-ports') ?? '',
      excludeOutboundPorts: flag('exclude-outbound-ports') ?? '',
      includeOutboundCidrs: flag('include-outbound-cidrs') ?? '',
      excludeOutboundCidrs: flag('exclude-outbound-cidrs') ?? '',
      proxyUid: flag('proxy-uid') ?? '1337',
      proxyGid: flag('proxy-gid'),
      ipv6: flag('ipv6') ?? 'auto',
      inboundCapturePort: flag('inbound-capture-port'),
      outboundCapturePort: flag('outbound-capture-port'),
      sidecarPorts: flag('sidecar-ports'),
      dnsCapturePort: flag('dns-capture-port'),
    };
    const leaseMs = Number(flag('lease-ms') ?? 10_000);
    if (!Number.isInteger(leaseMs) || leaseMs < 1000) throw new Error(`--lease-ms: "${flag('lease-ms')}" must be a whole number of ms, at least 1000`);
    const families = familiesFor(flags.ipv6);
    keeper = new RuleKeeper(configFromFlags(flags), families, leaseMs);
    keeper.reset();
    send({ type: 'ready', families });
  } catch (err) {
    send({ type: 'fatal', message: (err as Error).message });
    process.disconnect?.();
    process.exitCode = 1;
    return;
  }
  let stopping = false;
  // Once the sidecar is gone, so are the connections it proxied, and the nat hooks can go too.
  const stop = (why: string, sidecarGone: boolean) => {
    if (stopping) return;
    stopping = true;
    try {
      keeper.apply({ redirect: [], partition: [], dns: false, loss: [] });
      keeper.prune(sidecarGone ? ['filter', 'nat'] : ['filter']);
      log.info({ why }, 'interception rules removed');
    } catch (err) {
      log.error({ why, cause: (err as Error).message }, 'interception rules could not be removed; they go inert when their lease ends');
    }
    process.exit(0);
  };
  process.on('message', (message) => send(handle(keeper, message)));
  process.on('disconnect', () => stop('the sidecar is gone', true));
  process.on('SIGTERM', () => stop('SIGTERM', false));
  // Ctrl-C reaches the whole process group: the sidecar gets it too, has us remove the rules,
  // and goes, which ends us. Leaving first would only race it.
  process.on('SIGINT', () => undefined);
}
