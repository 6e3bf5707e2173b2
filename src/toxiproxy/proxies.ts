import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import type { RuntimeLayers } from '../admin/layers.js';
import { PolicyError, RequestError } from '../errors.js';
import { formatHostPort, isLoopbackHost, parseHostPort } from '../net/address.js';
import { NAME_PATTERN } from '../policy/schema.js';
import type { PolicyOverlay } from '../sidecar.js';
import { boolField, faultOf, numberField, objectBody, parseAttributes, parseDirection, stringField, TOXIC_ATTRIBUTES, toxicJson, type Toxic } from './toxics.js';

/** One Toxiproxy proxy: a faultline listener in the runtime layer while enabled. */
interface ProxyState {
  name: string;
  /** As Toxiproxy reports it: the address bound once started (port 0 resolved). */
  listen: string;
  upstream: string;
  enabled: boolean;
  /** In the order they were added; listed upstream ones first, as Toxiproxy does. */
  toxics: Toxic[];
  /** The faultline listener (and metrics `listener` label): the proxy's name when it is a valid one. */
  listener: string;
  /** The listen address in the runtime layer while enabled (kept as first bound: no rebinding). */
  bindAs: string | undefined;
}

/** `raw` when it is a valid faultline name, else a readable prefix of it and a hash. */
export function safeName(raw: string): string {
  if (NAME_PATTERN.test(raw)) return raw;
  const hash = createHash('sha256').update(raw).digest('hex').slice(0, 8);
  const cleaned = raw.replace(/[^-a-z0-9_.]+/gi, '-').slice(0, 50).replace(/^[^a-z0-9]+|[^a-z0-9]+$/gi, '');
  return `${cleaned || 'toxiproxy'}-${hash}`;
}

const formatAddress = ({ address, port }: { address: string; port: number }) => formatHostPort(address, port);

/**
 * Toxiproxy's listen forms ("localhost:0", ":8080", "[::1]:80", "" as Go's ":0") as a faultline
 * listen address. Unlike Toxiproxy, ":8080" binds loopback: the API takes no credential, and a
 * proxy on every interface would open the pod to whatever it relays to. A proxy on another
 * address may not relay to a loopback upstream (the admin API, an app's loopback-only port).
 */
function bindAddress(listen: string, upstream: string, proxy: string): string {
  const parsed = parseHostPort(listen === '' ? ':0' : listen, { emptyHost: '127.0.0.1' });
  if (!parsed) throw new RequestError(400, 'bad_request', `proxy ${proxy}: listen address "${listen}" is invalid: expected HOST:PORT`);
  if (!isLoopbackHost(parsed.host) && isLoopbackHost(parseHostPort(upstream)?.host ?? '')) {
    throw new RequestError(400, 'bad_request', `proxy ${proxy}: listen address "${listen}" is reachable from outside the pod and upstream "${upstream}" is loopback: that would expose a loopback-only service (listen on 127.0.0.1 instead)`);
  }
  return formatHostPort(parsed.host === 'localhost' ? '127.0.0.1' : parsed.host, parsed.port);
}

function upstreamAddress(upstream: string, proxy: string): string {
  const address = upstream.startsWith(':') ? `127.0.0.1${upstream}` : upstream;
  if (!parseHostPort(address)) throw new RequestError(400, 'bad_request', `proxy ${proxy}: upstream address "${upstream}" is invalid: expected HOST:PORT`);
  return address;
}

/**
 * The Toxiproxy API's state, with Toxiproxy's semantics: proxies (create, update, enable and
 * disable, delete, populate, reset) and their toxics. Every change is carried into the sidecar's
 * runtime layer: an enabled proxy is a listener, a toxic a rule on that listener with one fault,
 * live connections included. Disabling a proxy unbinds it (new connections are refused) and
 * closes its live connections. Methods that change state must run inside `layers.exclusive`.
 */
export class ToxiproxyState {
  private readonly proxies = new Map<string, ProxyState>();

  constructor(private readonly layers: RuntimeLayers) {}

  /** GET /proxies: every proxy by name (sorted, as Go marshals maps). */
  list(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const name of [...this.proxies.keys()].sort()) out[name] = this.json(this.proxies.get(name) as ProxyState);
    return out;
  }

  show(name: string): Record<string, unknown> {
    return this.json(this.find(name));
  }

  toxics(proxy: string): Record<string, unknown>[] {
    return this.ordered(this.find(proxy)).map(toxicJson);
  }

  toxic(proxy: string, name: string): Record<string, unknown> {
    return toxicJson(this.findToxic(this.find(proxy), name));
  }

  /** POST /proxies. */
  async create(input: unknown): Promise<Record<string, unknown>> {
    const body = objectBody(input, 'proxy');
    const name = stringField(body, 'name', '');
    const listen = stringField(body, 'listen', '');
    const upstream = stringField(body, 'upstream', '');
    const enabled = boolField(body, 'enabled', true);
    if (!name) throw new RequestError(400, 'bad_request', 'missing required field: name');
    if (!upstream) throw new RequestError(400, 'bad_request', 'missing required field: upstream');
    if (this.proxies.has(name)) throw new RequestError(409, 'conflict', 'proxy already exists');
    const proxy = this.newProxy(name, listen, upstream);
    await this.add(proxy, enabled);
    return this.json(proxy);
  }

  /** POST or PATCH /proxies/{name}: fields not given keep their values. */
  async update(name: string, input: unknown): Promise<Record<string, unknown>> {
    const proxy = this.find(name);
    const body = objectBody(input, 'proxy');
    const listen = stringField(body, 'listen', proxy.listen);
    const upstream = stringField(body, 'upstream', proxy.upstream);
    const enabled = boolField(body, 'enabled', proxy.enabled);
    // As Toxiproxy: a new address stops the proxy (closing its connections) before restarting it.
    if (listen !== proxy.listen || upstream !== proxy.upstream) {
      await this.stop(proxy);
      proxy.listen = listen;
      proxy.upstream = upstream;
    }
    if (enabled && !proxy.enabled) await this.start(proxy);
    else if (!enabled) await this.stop(proxy);
    return this.json(proxy);
  }

  /** DELETE /proxies/{name}. */
  async remove(name: string): Promise<void> {
    const proxy = this.find(name);
    await this.stop(proxy);
    this.proxies.delete(name);
  }

  /**
   * POST /populate: creates or replaces each proxy; one with the same listen and upstream as an
   * existing one is kept as it is (with its toxics). Everything is validated first; on a failure
   * part way, the proxies done so far are reported with the error.
   */
  async populate(input: unknown): Promise<{ proxies: Record<string, unknown>[]; error?: RequestError }> {
    if (!Array.isArray(input)) throw new RequestError(400, 'bad_request', 'bad request body: expected a JSON array of proxies');
    const entries = input.map((item, i) => {
      const body = objectBody(item, 'proxy');
      const entry = { name: stringField(body, 'name', ''), listen: stringField(body, 'listen', ''), upstream: stringField(body, 'upstream', ''), enabled: boolField(body, 'enabled', true) };
      if (!entry.name) throw new RequestError(400, 'bad_request', `missing required field: name at proxy ${i + 1}`);
      if (!entry.upstream) throw new RequestError(400, 'bad_request', `missing required field: upstream at proxy ${i + 1}`);
      return entry;
    });
    const names = entries.map((e) => e.name);
    const duplicate = names.find((n, i) => names.indexOf(n) !== i);
    if (duplicate !== undefined) throw new RequestError(400, 'bad_request', `duplicate proxy name "${duplicate}"`);
    const done: Record<string, unknown>[] = [];
    for (const entry of entries) {
      const existing = this.proxies.get(entry.name);
      if (existing && existing.listen === entry.listen && existing.upstream === entry.upstream) {
        done.push(this.json(existing));
        continue;
      }
      try {
        if (existing) {
          await this.stop(existing);
          this.proxies.delete(entry.name);
        }
        const proxy = this.newProxy(entry.name, entry.listen, entry.upstream);
        await this.add(proxy, entry.enabled);
        done.push(this.json(proxy));
      } catch (err) {
        if (err instanceof RequestError) return { proxies: done, error: err };
        throw err;
      }
    }
    return { proxies: done };
  }

  /** POST /reset: every proxy enabled, every toxic removed. */
  async reset(): Promise<void> {
    for (const proxy of this.proxies.values()) proxy.toxics = [];
    await this.apply();
    for (const proxy of this.proxies.values()) if (!proxy.enabled) await this.start(proxy);
  }

  /** POST /proxies/{proxy}/toxics, with Toxiproxy's defaults: downstream, toxicity 1, name `<type>_<stream>`. */
  async addToxic(proxyName: string, input: unknown): Promise<Record<string, unknown>> {
    const proxy = this.find(proxyName);
    const body = objectBody(input, 'toxic');
    const stream = stringField(body, 'stream', 'downstream');
    const direction = parseDirection(stream);
    const type = stringField(body, 'type', '');
    const name = stringField(body, 'name', '') || `${type}_${stream}`;
    if (!Object.hasOwn(TOXIC_ATTRIBUTES, type)) throw new RequestError(400, 'bad_request', 'invalid toxic type');
    if (proxy.toxics.some((t) => t.name === name)) throw new RequestError(409, 'conflict', 'toxic already exists');
    const toxic: Toxic = { name, type, stream, direction, toxicity: numberField(body, 'toxicity', 1), attributes: parseAttributes(type, body.attributes) };
    proxy.toxics.push(toxic);
    try {
      await this.apply();
    } catch (err) {
      proxy.toxics = proxy.toxics.filter((t) => t !== toxic);
      throw err;
    }
    return toxicJson(toxic);
  }

  /** POST or PATCH /proxies/{proxy}/toxics/{toxic}: attributes and toxicity, merged over the current ones. */
  async updateToxic(proxyName: string, name: string, input: unknown): Promise<Record<string, unknown>> {
    const proxy = this.find(proxyName);
    const current = this.findToxic(proxy, name);
    const body = objectBody(input, 'toxic');
    const updated: Toxic = { ...current, toxicity: numberField(body, 'toxicity', current.toxicity), attributes: parseAttributes(current.type, body.attributes, current.attributes) };
    proxy.toxics = proxy.toxics.map((t) => (t === current ? updated : t));
    try {
      await this.apply();
    } catch (err) {
      proxy.toxics = proxy.toxics.map((t) => (t === updated ? current : t));
      throw err;
    }
    return toxicJson(updated);
  }

  /** DELETE /proxies/{proxy}/toxics/{toxic}. */
  async removeToxic(proxyName: string, name: string): Promise<void> {
    const proxy = this.find(proxyName);
    const toxic = this.findToxic(proxy, name);
    proxy.toxics = proxy.toxics.filter((t) => t !== toxic);
    await this.apply();
  }

  /** The faultline rule name of a proxy's toxic (the `rule` label of its metrics). */
  static ruleName(proxy: string, toxic: string): string {
    return safeName(`toxiproxy.${proxy}.${toxic}`);
  }

  private newProxy(name: string, listen: string, upstream: string): ProxyState {
    const listener = safeName(name);
    const mine = [...this.proxies.values()].some((p) => p.listener === listener);
    if (!mine && this.layers.sidecar.policy.listeners.some((l) => l.name === listener)) {
      throw new RequestError(409, 'conflict', `proxy already exists: the policy has a listener named "${listener}"`);
    }
    return { name, listen, upstream, enabled: false, toxics: [], listener, bindAs: undefined };
  }

  /** Adds a new proxy, started when `enabled`; one that cannot start is not added. */
  private async add(proxy: ProxyState, enabled: boolean): Promise<void> {
    this.proxies.set(proxy.name, proxy);
    try {
      if (enabled) await this.start(proxy);
    } catch (err) {
      this.proxies.delete(proxy.name);
      throw err;
    }
  }

  private async start(proxy: ProxyState): Promise<void> {
    if (proxy.enabled) return;
    proxy.bindAs = bindAddress(proxy.listen, upstreamAddress(proxy.upstream, proxy.name), proxy.name);
    proxy.enabled = true;
    try {
      await this.apply();
    } catch (err) {
      proxy.enabled = false;
      proxy.bindAs = undefined;
      throw err;
    }
    proxy.listen = formatAddress(this.layers.sidecar.address(proxy.listener));
  }

  /** Unbinds the proxy and closes its live connections (both sides), as Toxiproxy's stop does. */
  private async stop(proxy: ProxyState): Promise<void> {
    if (!proxy.enabled) return;
    proxy.enabled = false;
    const bindAs = proxy.bindAs;
    proxy.bindAs = undefined;
    try {
      await this.apply();
    } catch (err) {
      proxy.enabled = true;
      proxy.bindAs = bindAs;
      throw err;
    }
    for (const conn of [...this.layers.sidecar.connections]) {
      if (conn.meta.listener === proxy.listener) conn.close('toxiproxy: proxy disabled');
    }
  }

  /** Writes every proxy and toxic into the runtime layer; policy problems become API errors. */
  private async apply(): Promise<void> {
    try {
      await this.layers.set('toxiproxy', this.overlay());
    } catch (err) {
      if (!(err instanceof PolicyError)) throw err;
      const messages = err.problems.map((p) => p.message);
      // A port in use (by the system, or by another listener) is a 500 in Toxiproxy; the rest is a 400.
      const bind = err.problems.some((p) => p.code === 'FL_ERR_LISTEN');
      throw new RequestError(bind ? 500 : 400, bind ? 'listen_failed' : 'bad_request', bind ? messages.join('; ') : `bad request body: ${messages.join('; ')}`);
    }
  }

  private overlay(): PolicyOverlay {
    const overlay: PolicyOverlay = { listeners: [], rules: [] };
    for (const proxy of this.proxies.values()) this.addTo(overlay, proxy);
    return overlay;
  }

  private addTo(overlay: PolicyOverlay, proxy: ProxyState): void {
    if (!proxy.enabled || proxy.bindAs === undefined) return;
    overlay.listeners.push({ name: proxy.listener, listen: proxy.bindAs, upstream: upstreamAddress(proxy.upstream, proxy.name) });
    for (const toxic of this.ordered(proxy)) {
      const fault = faultOf(toxic);
      if (fault) overlay.rules.push({ name: ToxiproxyState.ruleName(proxy.name, toxic.name), match: { listener: proxy.listener }, faults: [fault] });
    }
  }

  private ordered(proxy: ProxyState): Toxic[] {
    return [...proxy.toxics.filter((t) => t.direction === 'upstream'), ...proxy.toxics.filter((t) => t.direction === 'downstream')];
  }

  private find(name: string): ProxyState {
    const proxy = this.proxies.get(name);
    if (!proxy) throw new RequestError(404, 'not_found', 'proxy not found');
    return proxy;
  }

  private findToxic(proxy: ProxyState, name: string): Toxic {
    const toxic = proxy.toxics.find((t) => t.name === name);
    if (!toxic) throw new RequestError(404, 'not_found', 'toxic not found');
    return toxic;
  }

  private json(proxy: ProxyState): Record<string, unknown> {
    return { name: proxy.name, listen: proxy.listen, upstream: proxy.upstream, enabled: proxy.enabled, toxics: this.ordered(proxy).map(toxicJson) };
  }
}
