import { HostCheck } from '../admin/host-check.js';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { audit } from '../admin/audit.js';
import { readBody, route, sendJson } from '../admin/http.js';
import type { RuntimeLayers } from '../admin/layers.js';
import { RequestError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { ToxiproxyState } from './proxies.js';

/** The Toxiproxy release whose HTTP API this one answers like; faultline's own version follows the "+". */
export const TOXIPROXY_VERSION = '2.12.0+faultline.0.1.0';

interface Answer {
  status: number;
  /** Sent as JSON. */
  body?: unknown;
  /** Sent as it is. */
  raw?: { contentType: string; text: string };
  /** Set on changes: the audit line's action and details. */
  action?: string;
  details?: Record<string, unknown>;
}

/** `json()` parses the request body (read before the change is queued). */
type Handler = (json: () => unknown, params: string[]) => Promise<Answer>;

interface Route {
  pattern: string[];
  methods: Record<string, Handler>;
}

/** Parses a JSON body the way Toxiproxy's handlers do: an empty or malformed one is a 400. */
function parseBody(text: string): unknown {
  if (text.trim() === '') throw new RequestError(400, 'bad_request', 'bad request body: EOF');
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new RequestError(400, 'bad_request', `bad request body: ${(err as Error).message}`);
  }
}

function routes(state: ToxiproxyState, metrics: Metrics): Route[] {
  return [
    { pattern: ['reset'], methods: { POST: async () => (await state.reset(), { status: 204, action: 'toxiproxy.reset' }) } },
    // Byte for byte what Toxiproxy sends.
    { pattern: ['version'], methods: { GET: async () => ({ status: 200, raw: { contentType: 'application/json;charset=utf-8', text: `{"version": "${TOXIPROXY_VERSION}"}\n` } }) } },
    // The sidecar's own metrics (faultline_*, per listener = per proxy).
    { pattern: ['metrics'], methods: { GET: async () => ({ status: 200, raw: { contentType: metrics.registry.contentType, text: await metrics.registry.metrics() } }) } },
    {
      pattern: ['populate'],
      methods: {
        POST: async (json) => {
          const { proxies, error } = await state.populate(json());
          if (error) return { status: error.status, body: { error: error.message, status: error.status, proxies }, action: 'toxiproxy.populate', details: { error: error.message } };
          return { status: 201, body: { proxies }, action: 'toxiproxy.populate', details: { proxies: proxies.map((p) => p.name) } };
        },
      },
    },
    {
      pattern: ['proxies'],
      methods: {
        GET: async () => ({ status: 200, body: state.list() }),
        POST: async (json) => {
          const proxy = await state.create(json());
          return { status: 201, body: proxy, action: 'toxiproxy.proxy.create', details: { proxy: proxy.name, listen: proxy.listen, upstream: proxy.upstream } };
        },
      },
    },
    {
      pattern: ['proxies', '*'],
      methods: {
        GET: async (_json, [name]) => ({ status: 200, body: state.show(name as string) }),
        POST: updateProxy,
        PATCH: updateProxy,
        DELETE: async (_json, [name]) => (await state.remove(name as string), { status: 204, action: 'toxiproxy.proxy.delete', details: { proxy: name } }),
      },
    },
    {
      pattern: ['proxies', '*', 'toxics'],
      methods: {
        GET: async (_json, [name]) => ({ status: 200, body: state.toxics(name as string) }),
        POST: async (json, [name]) => {
          const toxic = await state.addToxic(name as string, json());
          return { status: 200, body: toxic, action: 'toxiproxy.toxic.create', details: { proxy: name, toxic } };
        },
      },
    },
    {
      pattern: ['proxies', '*', 'toxics', '*'],
      methods: {
        GET: async (_json, [name, toxic]) => ({ status: 200, body: state.toxic(name as string, toxic as string) }),
        POST: updateToxic,
        PATCH: updateToxic,
        DELETE: async (_json, [name, toxic]) => {
          await state.removeToxic(name as string, toxic as string);
          return { status: 204, action: 'toxiproxy.toxic.delete', details: { proxy: name, toxic } };
        },
      },
    },
  ];

  async function updateProxy(json: () => unknown, [name]: string[]) {
    const proxy = await state.update(name as string, json());
    return { status: 200, body: proxy, action: 'toxiproxy.proxy.update', details: { proxy: name, listen: proxy.listen, upstream: proxy.upstream, enabled: proxy.enabled } };
  }

  async function updateToxic(json: () => unknown, [name, toxicName]: string[]) {
    const toxic = await state.updateToxic(name as string, toxicName as string, json());
    return { status: 200, body: toxic, action: 'toxiproxy.toxic.update', details: { proxy: name, toxic } };
  }
}

/** The audit action of each change, the same whether it was applied or refused. */
const ACTIONS: Record<string, string> = {
  'reset POST': 'toxiproxy.reset',
  'populate POST': 'toxiproxy.populate',
  'proxies POST': 'toxiproxy.proxy.create',
  'proxies/* POST': 'toxiproxy.proxy.update',
  'proxies/* PATCH': 'toxiproxy.proxy.update',
  'proxies/* DELETE': 'toxiproxy.proxy.delete',
  'proxies/*/toxics POST': 'toxiproxy.toxic.create',
  'proxies/*/toxics/* POST': 'toxiproxy.toxic.update',
  'proxies/*/toxics/* PATCH': 'toxiproxy.toxic.update',
  'proxies/*/toxics/* DELETE': 'toxiproxy.toxic.delete',
};

function match(table: Route[], segments: string[]): { route: Route; params: string[] } | undefined {
  for (const route of table) {
    if (route.pattern.length !== segments.length) continue;
    const params: string[] = [];
    if (route.pattern.every((p, i) => (p === '*' ? (params.push(segments[i] as string), true) : p === segments[i]))) return { route, params };
  }
  return undefined;
}

/**
 * The Toxiproxy v2 HTTP API (`--toxiproxy-api`, usually 127.0.0.1:8474), unchanged for its
 * clients: the same paths, methods, status codes, JSON shapes and error bodies
 * (`{"error","status"}`). Like Toxiproxy it has no authentication, and refuses browsers (a
 * User-Agent starting "Mozilla/") so that a web page cannot drive it: bind it to loopback.
 * Changes run one at a time and each writes an audit line.
 */
export function createToxiproxyServer(options: { layers: RuntimeLayers; metrics: Metrics; log: Logger; hosts?: HostCheck }): Server & { state: ToxiproxyState } {
  const state = new ToxiproxyState(options.layers);
  const log = options.log.child({ component: 'toxiproxy-api' });
  const table = routes(state, options.metrics);
  const hosts = options.hosts ?? new HostCheck();

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    hosts.require(req);
    if ((req.headers['user-agent'] ?? '').startsWith('Mozilla/')) {
      res.writeHead(403, { 'content-type': 'text/plain; charset=utf-8' }).end('User agent not allowed\n');
      return;
    }
    const { segments } = route(req);
    const found = match(table, segments);
    if (!found) return void res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('404 page not found\n');
    const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
    const handler = Object.hasOwn(found.route.methods, method) ? found.route.methods[method] : undefined;
    if (!handler) return void res.writeHead(405, { allow: Object.keys(found.route.methods).join(', ') }).end();
    const mutating = method !== 'GET';
    let action = ACTIONS[`${found.route.pattern.join('/')} ${method}`] ?? `toxiproxy.${method.toLowerCase()}`;
    try {
      const text = mutating ? await readBody(req) : '';
      const json = () => parseBody(text);
      const result = mutating ? await options.layers.exclusive(() => handler(json, found.params)) : await handler(json, found.params);
      action = result.action ?? action;
      if (mutating) audit(log, req, { action, status: result.status, ...(result.details ? { details: result.details } : {}) });
      if (result.status === 204) return void res.writeHead(204).end();
      if (result.raw) return void res.writeHead(result.status, { 'content-type': result.raw.contentType }).end(result.raw.text);
      sendJson(res, result.status, result.body);
    } catch (err) {
      const status = err instanceof RequestError ? err.status : 500;
      const message = err instanceof Error ? err.message : String(err);
      if (!(err instanceof RequestError)) log.error({ err }, 'toxiproxy API: unexpected error');
      if (mutating) audit(log, req, { action, status, details: { error: message } });
      sendJson(res, status, { error: message, status });
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: Error) => {
      // A malformed path, or a client gone mid-answer.
      const status = err instanceof RequestError ? err.status : 500;
      if (!res.headersSent) sendJson(res, status, { error: err.message, status });
    });
  }) as Server & { state: ToxiproxyState };
  server.state = state;
  return server;
}
