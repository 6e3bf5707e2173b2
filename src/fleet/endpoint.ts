import { request } from 'undici';
import { TOKEN_HEADER } from '../admin/verbs.js';
import { ADMIN_PORT } from '../kubernetes/builders.js';
import { apiError, statusOf, type Kube } from '../kubernetes/client.js';
import { KubeApiError } from '../errors.js';
import { TargetFailure } from './fanout.js';

/** What a sidecar's admin API answered. */
export interface AdminAnswer {
  status: number;
  body: any;
}

/** Reaches the admin API of one target: a pod through the API server, or a URL. */
export interface AdminEndpoint {
  /** Throws TargetFailure when the target could not be reached or the API server refused the call. */
  call(target: string, method: string, path: string, body?: unknown): Promise<AdminAnswer>;
}

const parse = (text: string): unknown => {
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return text;
  }
};

/**
 * A pod's sidecar through the API server's pod proxy
 * (`/api/v1/namespaces/NS/pods/NAME:15000/proxy/PATH`) with the user's kubeconfig: no
 * port-forward. The credential goes in X-Faultline-Token, since the API server deletes the
 * Authorization header once it has authenticated the user. An answer that is a Kubernetes Status
 * object is the API server's (RBAC, an unreachable pod), not the sidecar's.
 */
export class PodProxyEndpoint implements AdminEndpoint {
  constructor(
    private readonly kube: Kube,
    private readonly namespace: string,
    private readonly token: string,
    private readonly timeoutMs: number,
  ) {}

  async call(pod: string, method: string, path: string, body?: unknown): Promise<AdminAnswer> {
    const headers: Record<string, string> = { [TOKEN_HEADER]: this.token, accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const proxyPath = `/api/v1/namespaces/${encodeURIComponent(this.namespace)}/pods/${encodeURIComponent(pod)}:${ADMIN_PORT}/proxy${path}`;
    let answer;
    try {
      answer = await this.kube.request(method, proxyPath, { headers, timeoutMs: this.timeoutMs, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    } catch (err) {
      throw new TargetFailure(err instanceof KubeApiError && err.reason === 'Timeout' ? `no answer within ${this.timeoutMs / 1000} s` : (err as Error).message);
    }
    const status = statusOf(answer.text);
    if (status) {
      if (answer.status === 502 || answer.status === 503) throw new TargetFailure(`unreachable through the pod proxy (${answer.status}): ${status.message}`);
      if (answer.status === 404) throw new TargetFailure(`the API server has no such pod (${status.message})`);
      throw new TargetFailure(apiError(answer.status, status, `${method} pods/${pod}/proxy`, this.kube.server).message);
    }
    return { status: answer.status, body: parse(answer.text) };
  }
}

/** One sidecar's admin API at a URL (a local sidecar, the demo), with `Authorization: Bearer`. */
export class UrlEndpoint implements AdminEndpoint {
  constructor(
    private readonly token: string | undefined,
    private readonly timeoutMs: number,
  ) {}

  async call(url: string, method: string, path: string, body?: unknown): Promise<AdminAnswer> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    try {
      const res = await request(`${url.replace(/\/+$/, '')}${path}`, {
        method: method as 'GET',
        headers,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      return { status: res.statusCode, body: parse(await res.body.text()) };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new TargetFailure(code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' ? `no answer within ${this.timeoutMs / 1000} s` : `cannot reach ${url}: ${code ?? (err as Error).message}`);
    }
  }
}

/**
 * The answer's body when its status is one of `expected`; else a TargetFailure in words: a
 * sidecar without the endpoint is too old, a refused credential says what to check.
 */
export function expectStatus(answer: AdminAnswer, expected: number[], what: string): any {
  if (expected.includes(answer.status)) return answer.body;
  const message = typeof answer.body === 'object' && answer.body !== null && 'message' in answer.body ? String(answer.body.message) : String(answer.body ?? '').slice(0, 200);
  if (answer.status === 401 || answer.status === 403) {
    throw new TargetFailure(`the sidecar refused the credential (${answer.status}): ${message} (a Secret just created or rotated reaches the pod within about a minute)`);
  }
  if (answer.status === 404 && what === 'GET /status' && (answer.body?.error === 'not_found' || typeof answer.body !== 'object')) {
    throw new TargetFailure('sidecar too old: it has no GET /status (upgrade its image)');
  }
  throw new TargetFailure(`${what} answered ${answer.status}: ${message}`);
}
