import { request as httpsRequest, type RequestOptions } from 'node:https';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
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

/**
 * The API calls the FaultPolicy watcher and the controller make, through
 * `@kubernetes/client-node`'s KubeConfig (loaded only by these components): JSON requests with
 * the credentials applied anew each time (a projected service-account token is rotated by the
 * kubelet, and the client re-reads its file), and the library's Watch for event streams.
 */
export class ApiClient {
  private constructor(readonly config: KubeConfig, readonly server: string) {}

  /**
   * In a pod: the API server from KUBERNETES_SERVICE_HOST/PORT, the token and CA from `dir` (the
   * sidecar's own projected volume: `token`, `ca.crt`), never the app's service-account mount.
   */
  static async inCluster(dir: string): Promise<ApiClient> {
    const host = process.env.KUBERNETES_SERVICE_HOST;
    const port = process.env.KUBERNETES_SERVICE_PORT;
    if (!host || !port) throw new UsageError('not in a pod: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set (give --kubeconfig FILE)');
    const { KubeConfig } = await import('@kubernetes/client-node');
    const config = new KubeConfig();
    const server = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
    config.loadFromClusterAndUser({ name: 'in-cluster', server, caFile: join(dir, 'ca.crt'), skipTLSVerify: false }, { name: 'faultline', authProvider: { name: 'tokenFile', config: { tokenFile: join(dir, 'token') } } });
    return new ApiClient(config, server);
  }

  /** From a kubeconfig file (tests, a controller run outside the cluster), or the default places. */
  static async fromKubeconfig(file?: string): Promise<ApiClient> {
    const { KubeConfig } = await import('@kubernetes/client-node');
    const config = new KubeConfig();
    try {
      if (file) config.loadFromFile(file);
      else config.loadFromDefault();
    } catch (err) {
      throw new UsageError(`cannot load the kubeconfig: ${(err as Error).message.split('\n')[0]}`);
    }
    const cluster = config.getCurrentCluster();
    if (!cluster) throw new UsageError('the kubeconfig names no cluster');
    return new ApiClient(config, cluster.server.replace(/\/+$/, ''));
  }

  /** A JSON request; an error answer (or none) is a one-line KubeApiError, the API server's Status message in it. */
  async json<T = any>(method: string, path: string, options: { body?: unknown; contentType?: string; accept?: string } = {}): Promise<T> {
    const base: RequestOptions = {};
    try {
      await this.config.applyToHTTPSOptions(base);
    } catch (err) {
      // The token or CA file is not there (yet): the kubelet writes the projected volume before the container starts, but say it plainly.
      throw new KubeApiError(0, 'Credentials', `cannot use the API credentials: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} ${(err as NodeJS.ErrnoException).path ?? ''}`.trim(), { cause: err });
    }
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
   * Watches `path` from `query.resourceVersion` with the library's Watch; `onEvent` gets each
   * event, `done` the end of the stream (an error, or null when the server ended it). Returns
   * the controller that ends it.
   */
  async watch(path: string, query: Record<string, string | number | boolean>, onEvent: (event: WatchEvent) => void, done: (err: unknown) => void): Promise<AbortController> {
    const { Watch } = await import('@kubernetes/client-node');
    return new Watch(this.config).watch(path, query, (type, object) => onEvent({ type: type as WatchEvent['type'], object }), done);
  }
}
