import { DnsProxy } from '../dns/proxy.js';
import type { Sidecar } from '../sidecar.js';
import { UdpRelay } from '../udp/relay.js';

/** GET /dns: each DNS proxy (the transparent one, `protocol: dns` listeners) with its last queries, oldest first. */
export function dnsView(sidecar: Sidecar): Record<string, unknown> {
  const proxies = sidecar.datagramListeners.filter((l): l is DnsProxy => l instanceof DnsProxy);
  return { proxies: proxies.map((p) => p.view()) };
}

/** GET /flows: the live flows of every `protocol: udp` listener, oldest first. */
export function flowsView(sidecar: Sidecar): Record<string, unknown> {
  const relays = sidecar.datagramListeners.filter((l): l is UdpRelay => l instanceof UdpRelay);
  const flows = relays.flatMap((r) => [...r.flows.values()].map((f) => f.describe()));
  return { total: flows.length, flows };
}
