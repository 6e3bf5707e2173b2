import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { RequestError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Sidecar } from '../sidecar.js';
import { audit } from './audit.js';
import { AdminCredentials } from './auth.js';
import { HostCheck } from './host-check.js';
import { parseBody, readBody, route, sendJson } from './http.js';
import { RuntimeLayers } from './layers.js';
import { RuntimeRules } from './rules.js';
import { UI_HEADERS, UI_HTML, UI_SCRIPT } from './ui.js';
import { dnsView, flowsView } from './datagram-views.js';
import { mirrorView } from './mirror-view.js';
import type { AdminVerb } from './verbs.js';
import { connectionsView, faultsView, policyView, statusView } from './views.js';

export interface AdminServerOptions {
  sidecar: Sidecar;
  /** Shared with the Toxiproxy API when both run; created here otherwise. */
  layers?: RuntimeLayers;
  /** Who may do what; built from `tokenFile` when not given. */
  credentials?: AdminCredentials;
  /** `--admin-token-file`: one token for every call. Without any credential, changes are refused. */
  tokenFile?: string | undefined;
  /** Which Host headers are answered (DNS rebinding); loopback names, IPs and the pod's name by default. */
  hosts?: HostCheck;
  log: Logger;
}

interface Answer {
  status: number;
  body?: unknown;
  /** What an audit line says the change was, with its details. */
  action?: string;
  details?: Record<string, unknown>;
}

/** The audit action of each change (as refused; an applied change may say more, e.g. rules.replace). */
const ACTIONS: Record<string, string> = {
  'POST killswitch': 'killswitch.on',
  'DELETE killswitch': 'killswitch.off',
  'POST rules': 'rules.create',
  'DELETE rules/*': 'rules.delete',
};

/** The verb each change needs; every read needs `view` (only enforced when reads are protected). */
const VERBS: Record<string, AdminVerb> = {
  'POST killswitch': 'killswitch',
  'DELETE killswitch': 'killswitch',
  'POST rules': 'rules',
  'DELETE rules/*': 'rules',
};

const ENDPOINTS = [
  'GET /status',
  'GET /policy',
  'GET /connections?limit=&listener=&direction=&protocol=&rule=&fault=&faulted=',
  'GET /faults',
  'GET /dns',
  'GET /flows',
  'GET /mirror?limit=&rule=',
  'GET /rules',
  'GET /rules/NAME',
  'POST /rules (JSON, or YAML with content-type application/yaml)',
  'DELETE /rules/NAME',
  'GET /killswitch',
  'POST /killswitch',
  'DELETE /killswitch',
  'GET /ui',
];

/**
 * The admin API (SPEC default 127.0.0.1:15000). Every change needs a credential granting its
 * verb (401 without, 403 unknown or too weak) and writes an audit line; reads need `view` when
 * the credentials say reads are protected (an address outside loopback), and are open otherwise.
 * The `/ui` page itself is always served; its data comes from the guarded reads. Changes run one
 * at a time with the Toxiproxy API's.
 */
export function createAdminServer(options: AdminServerOptions): Server {
  const { sidecar } = options;
  const layers = options.layers ?? new RuntimeLayers(sidecar);
  const rules = new RuntimeRules(layers);
  const credentials = options.credentials ?? new AdminCredentials({ tokenFile: options.tokenFile });
  const log = options.log.child({ component: 'admin' });
  const hosts = options.hosts ?? new HostCheck();

  const setKillSwitch = async (on: boolean): Promise<Answer> => {
    sidecar.engine.killSwitch = on;
    sidecar.refreshAll();
    await sidecar.settled();
    return { status: 200, body: { killSwitch: on }, action: on ? 'killswitch.on' : 'killswitch.off' };
  };

  const reads: Record<string, (query: URLSearchParams, segments: string[]) => Promise<Answer> | Answer> = {
    '': () => ({ status: 200, body: { service: 'faultline admin', endpoints: ENDPOINTS } }),
    status: () => ({ status: 200, body: statusView(sidecar, layers, credentials.levels()) }),
    policy: () => ({ status: 200, body: policyView(sidecar, layers) }),
    connections: (query) => ({ status: 200, body: connectionsView(sidecar, query) }),
    faults: async () => ({ status: 200, body: await faultsView(sidecar, layers) }),
    dns: () => ({ status: 200, body: dnsView(sidecar) }),
    flows: () => ({ status: 200, body: flowsView(sidecar) }),
    mirror: (query) => ({ status: 200, body: mirrorView(sidecar, query) }),
    rules: () => ({ status: 200, body: { rules: rules.list() } }),
    'rules/*': (_query, segments) => ({ status: 200, body: { rule: rules.get(segments[1] as string) } }),
    killswitch: () => ({ status: 200, body: { killSwitch: sidecar.engine.killSwitch } }),
  };

  const writes: Record<string, (text: string, segments: string[], contentType: string) => Promise<Answer> | Answer> = {
    'POST killswitch': () => setKillSwitch(true),
    'DELETE killswitch': () => setKillSwitch(false),
    'POST rules': async (text, _segments, contentType) => {
      const rule = parseBody(text, contentType, 'the rule') as { name?: unknown };
      const created = await rules.put(rule);
      return { status: created ? 201 : 200, body: { rule }, action: created ? 'rules.create' : 'rules.replace', details: { rule: rule.name } };
    },
    'DELETE rules/*': async (_text, segments) => {
      await rules.remove(segments[1] as string);
      return { status: 204, action: 'rules.delete', details: { rule: segments[1] } };
    },
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    hosts.require(req);
    const { segments, query } = route(req);
    const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
    const path = segments.join('/');
    // Browsers ask for it: an empty answer rather than a 404 in their console.
    if (method === 'GET' && path === 'favicon.ico') return void res.writeHead(204).end();
    if (method === 'GET' && (path === 'ui' || path === 'ui/app.js')) {
      const js = path === 'ui/app.js';
      res.writeHead(200, { 'content-type': js ? 'text/javascript; charset=utf-8' : 'text/html; charset=utf-8', ...UI_HEADERS });
      return void res.end(js ? UI_SCRIPT : UI_HTML);
    }
    const resource = segments.length === 2 ? `${segments[0]}/*` : path;
    const read = segments.length <= 2 && Object.hasOwn(reads, resource) ? reads[resource] : undefined;
    const writeKey = `${method} ${resource}`;
    const write = Object.hasOwn(writes, writeKey) ? writes[writeKey] : undefined;
    if (method === 'GET' && read) {
      credentials.require(req, 'view');
      const answer = await read(query, segments);
      return sendJson(res, answer.status, answer.body);
    }
    if (!write) {
      // 405 names the methods the resource has (RFC 9110 15.5.6), as Allow.
      const allowed = [...(read ? ['GET', 'HEAD'] : []), ...Object.keys(writes).filter((k) => k.endsWith(` ${resource}`)).map((k) => k.split(' ')[0] as string)];
      if (allowed.length === 0) throw new RequestError(404, 'not_found', `no such endpoint /${path}; see GET /`);
      return sendJson(res, 405, { error: 'method_not_allowed', message: `${method} is not allowed on /${path}; allowed: ${allowed.join(', ')}` }, { allow: allowed.join(', ') });
    }
    const action = ACTIONS[writeKey] as string;
    try {
      credentials.require(req, VERBS[writeKey] as AdminVerb);
      const text = await readBody(req);
      const answer = await layers.exclusive(() => write(text, segments, String(req.headers['content-type'] ?? '')));
      audit(log, req, { action: answer.action ?? action, status: answer.status, ...(answer.details ? { details: answer.details } : {}) });
      if (answer.status === 204) return void res.writeHead(204).end();
      sendJson(res, answer.status, answer.body);
    } catch (err) {
      const status = err instanceof RequestError ? err.status : 500;
      audit(log, req, { action, status, details: { error: (err as Error).message } });
      throw err;
    }
  };

  return createServer((req, res) => {
    handle(req, res).catch((err: Error) => {
      if (!(err instanceof RequestError)) log.error({ err }, 'admin API: unexpected error');
      if (res.headersSent) return void res.destroy();
      const status = err instanceof RequestError ? err.status : 500;
      const headers: Record<string, string> = status === 401 ? { 'www-authenticate': 'Bearer realm="faultline admin"' } : {};
      const extra = err instanceof RequestError ? err.details : undefined;
      sendJson(res, status, { error: err instanceof RequestError ? err.error : 'internal_error', message: err.message, ...extra }, headers);
    });
  });
}
