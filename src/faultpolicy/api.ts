import { readFile } from 'node:fs/promises';
import { STATUS_CODES, request as httpRequest } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { KubeApiError, UsageError } from '../errors.js';
import { apiError, statusOf } from '../kubernetes/client.js';

/** A call gives up after this long; a watch is ended by its own timeout and watchdog (watcher.ts). */
const CALL_TIMEOUT_MS = 10_000;
const MAX_ANSWER_BYTES = 8 * 1024 * 1024;

/** One event of a watch, as the API server streams it. */
export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: Record<string, any>;
}

/** The TLS options and headers of each request, computed anew (a projected token rotates). */
type Credentials = () => Promise<RequestOptions>;

/**
 * The API calls the FaultPolicy watcher and the controller make: JSON requests, and watches
 * (one JSON event per line of a chunked answer). In a pod (and with a kubeconfig that has a
 * token) it is node's https with the token read from its file at each call: nothing else is
 * loaded, since every injected sidecar carries this and @kubernetes/client-node costs about
 * 75 MB of memory per process. A kubeconfig with another kind of credential (client
 * certificates, an exec plugin, an auth provider) is handed to client-node's KubeConfig.
 */
export class ApiClient {
  private constructor(readonly server: string, private readonly credentials: Credentials) {}

  /**
   * In a pod: the API server from KUBERNETES_SERVICE_HOST/PORT, the token and CA from `dir` (the
   * sidecar's own projected volume: `token`, `ca.crt`), never the app's service-account mount.
   */
  static async inCluster(dir: string): Promise<ApiClient> {
    const host = process.env.KUBERNETES_SERVICE_HOST;
    const port = process.env.KUBERNETES_SERVICE_PORT;
    if (!host || !port) throw new UsageError('not in a pod: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set (give --kubeconfig FILE)');
    const server = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
    return new ApiClient(server, tokenCredentials({ caFile: join(dir, 'ca.crt'), tokenFile: join(dir, 'token') }));
  }

  /** From a kubeconfig file (tests, a controller run outside the cluster), or $KUBECONFIG / ~/.kube/config. */
  static async fromKubeconfig(file?: string): Promise<ApiClient> {
    const path = file ?? process.env.KUBECONFIG?.split(':')[0] ?? join(homedir(), '.kube', 'config');
    let config: Kubeconfig;
    try {
      config = parse(await readFile(path, 'utf8')) as Kubeconfig;
    } catch (err) {
      throw new UsageError(`cannot load the kubeconfig ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message.split('\n')[0]}`);
    }
    const context = config?.contexts?.find((c) => c.name === config['current-context'])?.context;
    const cluster = config?.clusters?.find((c) => c.name === context?.cluster)?.cluster;
    const user = config?.users?.find((u) => u.name === context?.user)?.user ?? {};
    if (!cluster?.server) throw new UsageError(`the kubeconfig ${path} names no cluster for its current context`);
    const server = cluster.server.replace(/\/+$/, '');
    if (user.token || user.tokenFile) {
      return new ApiClient(server, tokenCredentials({ ca: cluster['certificate-authority-data'] ? Buffer.from(cluster['certificate-authority-data'], 'base64') : undefined, caFile: cluster['certificate-authority'], insecure: cluster['insecure-skip-tls-verify'] === true, token: user.token, tokenFile: user.tokenFile }));
    }
    // Certificates, exec plugins, auth providers: the library knows them all.
    const { KubeConfig } = await import('@kubernetes/client-node');
    const library = new KubeConfig();
    library.loadFromFile(path);
    return new ApiClient(server, async () => {
      const options: RequestOptions = {};
      await library.applyToHTTPSOptions(options);
      return options;
    });
  }

  private async options(): Promise<RequestOptions> {
    try {
      return await this.credentials();
    } catch (err) {
      // The token or CA file is not there (yet): the kubelet writes the projected volume before the container starts, but say it plainly.
      throw new KubeApiError(0, 'Credentials', `cannot use the API credentials: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} ${(err as NodeJS.ErrnoException).path ?? ''}`.trim(), { cause: err });
    }
  }

  /** A JSON request; an error answer (or none) is a one-line KubeApiError, the API server's Status message in it. */
  async json<T = any>(method: string, path: string, options: { body?: unknown; contentType?: string; accept?: string } = {}): Promise<T> {
    const base = await this.options();
    const url = new URL(this.server + path);
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    const headers: Record<string, string> = { ...(base.headers as Record<string, string> | undefined), accept: options.accept ?? 'application/json' };
    if (body !== undefined) {
      headers['content-type'] = options.contentType ?? 'application/json';
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    const send = url.protocol === 'http:' ? httpRequest : httpsRequest;
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = send(url, { ...base, method, headers }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size <= MAX_ANSWER_BYTES) chunks.push(chunk);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.setTimeout(CALL_TIMEOUT_MS, () => req.destroy(new KubeApiError(0, 'Timeout', `${method} ${path}: no answer within ${CALL_TIMEOUT_MS / 1000} s`)));
      req.on('error', (err) => reject(err instanceof KubeApiError ? err : new KubeApiError(0, 'Unreachable', `cannot reach the Kubernetes API server at ${this.server}: ${(err as NodeJS.ErrnoException).code ?? err.message}`, { cause: err })));
      req.end(body);
    });
    if (status < 200 || status > 299) throw apiError(status, statusOf(text), `${method} ${path}`, this.server);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /**
   * Watches `path` from `query.resourceVersion`: `onEvent` gets each event (one JSON object per
   * line; a malformed line is skipped, a line over 8 MiB ends the watch), `done` the end of the
   * stream (an error with `statusCode` for an HTTP refusal, a network error, or null when the
   * server ended it). Returns the controller that ends it.
   */
  async watch(path: string, query: Record<string, string | number | boolean>, onEvent: (event: WatchEvent) => void, done: (err: unknown) => void): Promise<AbortController> {
    const base = await this.options();
    const url = new URL(this.server + path);
    url.searchParams.set('watch', 'true');
    for (const [key, value] of Object.entries(query)) url.searchParams.set(key, String(value));
    const controller = new AbortController();
    let finished = false;
    const finish = (err: unknown) => {
      if (finished) return;
      finished = true;
      done(err);
    };
    const send = url.protocol === 'http:' ? httpRequest : httpsRequest;
    const req = send(url, { ...base, method: 'GET', headers: { ...(base.headers as Record<string, string> | undefined), accept: 'application/json' }, signal: controller.signal }, (res) => {
      res.setEncoding('utf8');
      let buffered = '';
      if (res.statusCode !== 200) {
        res.on('data', (chunk: string) => void (buffered.length < 64 * 1024 && (buffered += chunk)));
        res.on('end', () => finish(Object.assign(new Error(statusOf(buffered)?.message ?? STATUS_CODES[res.statusCode ?? 500] ?? 'error'), { statusCode: res.statusCode })));
        return;
      }
      res.on('data', (chunk: string) => {
        buffered += chunk;
        for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          if (!line.trim()) continue;
          let event: WatchEvent;
          try {
            event = JSON.parse(line) as WatchEvent;
          } catch {
            continue;
          }
          onEvent(event);
        }
        if (buffered.length > MAX_ANSWER_BYTES) req.destroy(new Error('a watch event over 8 MiB'));
      });
      res.on('end', () => finish(null));
      res.on('error', finish);
    });
    req.on('error', finish);
    req.end();
    return controller;
  }
}

interface Kubeconfig {
  'current-context'?: string;
  contexts?: { name: string; context?: { cluster?: string; user?: string } }[];
  clusters?: { name: string; cluster?: { server?: string; 'certificate-authority-data'?: string; 'certificate-authority'?: string; 'insecure-skip-tls-verify'?: boolean } }[];
  users?: { name: string; user?: { token?: string; tokenFile?: string } }[];
}

/** A bearer token (given, or read from its file at each call: the kubelet rotates it) and a CA (data or a file). */
function tokenCredentials(source: { ca?: Buffer | undefined; caFile?: string | undefined; insecure?: boolean; token?: string | undefined; tokenFile?: string | undefined }): Credentials {
  return async () => {
    const token = source.token ?? (await readFile(source.tokenFile as string, 'utf8')).trim();
    const ca = source.ca ?? (source.caFile ? await readFile(source.caFile) : undefined);
    return { ...(ca ? { ca } : {}), ...(source.insecure ? { rejectUnauthorized: false } : {}), headers: { authorization: `Bearer ${token}` } };
  };
}
