import { existsSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { KubeApiError, UsageError } from '../errors.js';

/** Where the credentials come from: `--kubeconfig`, `--context`, `-n`; the rest from the usual places. */
export interface KubeOptions {
  kubeconfig?: string | undefined;
  context?: string | undefined;
  namespace?: string | undefined;
}

/** A call to the API server gives up after this long (a blackholed server must not hang a command). */
export const API_TIMEOUT_MS = 10_000;
const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';
const MAX_ANSWER_CHARS = 4 * 1024 * 1024;

/** What an API server answered to a raw request (the pod proxy). */
export interface RawAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

/** A Kubernetes Status object, as the API server answers errors. */
interface Status {
  kind?: string;
  message?: string;
  reason?: string;
  code?: number;
}

/** The Status object in a body, if it is one. */
export function statusOf(text: string): Status | undefined {
  try {
    const parsed = JSON.parse(text) as Status;
    return parsed && parsed.kind === 'Status' ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The Kubernetes API with the user's credentials, through `@kubernetes/client-node` (loaded only
 * when a command needs it): kubeconfig from `--kubeconfig`, else `$KUBECONFIG`, `~/.kube/config`,
 * or the in-cluster service account; `--context` picks a context; the namespace is `-n`, else the
 * context's, else `default`. Typed calls go through CoreV1Api; the pod proxy, whose bodies are the
 * sidecar's own, through `request` with the same TLS and credentials.
 */
export class Kube {
  private rawOptions: Promise<RequestOptions> | undefined;

  private constructor(
    readonly config: KubeConfig,
    readonly core: CoreV1Api,
    readonly namespace: string,
    readonly server: string,
    private readonly isApiException: (err: unknown) => err is { code: number; body: unknown },
  ) {}

  /** Loads the kubeconfig; a missing or unusable one is a UsageError saying what to do. */
  static async load(options: KubeOptions = {}): Promise<Kube> {
    const client = await import('@kubernetes/client-node');
    const config = new client.KubeConfig();
    try {
      if (options.kubeconfig !== undefined) config.loadFromFile(options.kubeconfig.replace(/^~(?=\/|$)/, homedir()));
      else if (!process.env.KUBECONFIG && !existsSync(join(homedir(), '.kube', 'config')) && !existsSync(SERVICE_ACCOUNT_TOKEN)) {
        throw new UsageError('no kubeconfig: give --kubeconfig FILE, set KUBECONFIG, or create ~/.kube/config (or use --admin URL for a local sidecar)');
      } else config.loadFromDefault();
    } catch (err) {
      if (err instanceof UsageError) throw err;
      throw new UsageError(`cannot load the kubeconfig: ${(err as Error).message.split('\n')[0]}`);
    }
    if (options.context !== undefined) {
      if (!config.getContexts().some((c) => c.name === options.context)) {
        throw new UsageError(`--context: no context "${options.context}" in the kubeconfig (known: ${config.getContexts().map((c) => c.name).join(', ') || 'none'})`);
      }
      config.setCurrentContext(options.context);
    }
    const cluster = config.getCurrentCluster();
    if (!cluster) throw new UsageError(`the kubeconfig's current context "${config.getCurrentContext()}" names no cluster`);
    if (cluster.server.startsWith('http:') && !cluster.skipTLSVerify) {
      throw new UsageError(`the kubeconfig's cluster ${cluster.server} is plain HTTP: use https (or set insecure-skip-tls-verify, at your own risk)`);
    }
    let core: CoreV1Api;
    try {
      core = config.makeApiClient(client.CoreV1Api);
    } catch (err) {
      throw new UsageError(`cannot use the kubeconfig's cluster ${cluster.server}: ${(err as Error).message}`);
    }
    const namespace = options.namespace ?? config.getContextObject(config.getCurrentContext())?.namespace ?? 'default';
    const isApiException = (err: unknown): err is { code: number; body: unknown } => err instanceof client.ApiException;
    return new Kube(config, core, namespace, cluster.server.replace(/\/+$/, ''), isApiException);
  }

  /** Runs a typed API call; its failure becomes a one-line KubeApiError; bounded by API_TIMEOUT_MS. */
  async call<T>(what: string, run: (core: CoreV1Api) => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new KubeApiError(0, 'Timeout', `${what}: the Kubernetes API server at ${this.server} did not answer within ${API_TIMEOUT_MS / 1000} s`)), API_TIMEOUT_MS);
    });
    try {
      return await Promise.race([run(this.core), timeout]);
    } catch (err) {
      throw this.failure(what, err);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * A raw request to `path` on the API server with the kubeconfig's TLS settings and credentials
   * (token, client certificate, exec plugin), for the pod proxy. Network failures become a
   * KubeApiError with status 0; any HTTP answer is returned as it came.
   */
  async request(method: string, path: string, options: { headers?: Record<string, string>; body?: string; timeoutMs?: number } = {}): Promise<RawAnswer> {
    this.rawOptions ??= (async () => {
      const base: RequestOptions = {};
      await this.config.applyToHTTPSOptions(base);
      return base;
    })();
    const base = await this.rawOptions;
    const url = new URL(this.server + path);
    const send = url.protocol === 'http:' ? httpRequest : httpsRequest;
    const timeoutMs = options.timeoutMs ?? API_TIMEOUT_MS;
    return new Promise<RawAnswer>((resolve, reject) => {
      const headers: Record<string, string> = { ...(base.headers as Record<string, string> | undefined), ...options.headers };
      if (options.body !== undefined) headers['content-length'] = String(Buffer.byteLength(options.body));
      const req = send(url, { ...base, method, headers }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        // An admin answer is small; anything past 4 MiB is not kept (memory stays bounded).
        res.on('data', (chunk: string) => {
          if (text.length + chunk.length <= MAX_ANSWER_CHARS) text += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
        res.on('error', (err) => reject(this.failure(`${method} ${path}`, err)));
      });
      req.setTimeout(timeoutMs, () => req.destroy(new KubeApiError(0, 'Timeout', `no answer within ${timeoutMs / 1000} s`)));
      req.on('error', (err) => reject(err instanceof KubeApiError ? err : this.failure(`${method} ${path}`, err)));
      req.end(options.body);
    });
  }

  /** One line for what went wrong: the API server's own Status message where it sent one. */
  failure(what: string, err: unknown): KubeApiError {
    if (err instanceof KubeApiError) return err;
    if (this.isApiException(err)) {
      const status = statusOf(String(err.body));
      return apiError(err.code, status, what, this.server, err);
    }
    const code = (err as NodeJS.ErrnoException).code ?? ((err as { cause?: NodeJS.ErrnoException }).cause?.code) ?? (err as Error).message;
    return new KubeApiError(0, 'Unreachable', `cannot reach the Kubernetes API server at ${this.server}: ${code}`, { cause: err });
  }
}

/** A KubeApiError for an HTTP answer of the API server (`status` the Status object it sent, if any). */
export function apiError(code: number, status: Status | undefined, what: string, server: string, cause?: unknown): KubeApiError {
  const reason = status?.reason ?? String(code);
  const said = status?.message ?? reason;
  const message =
    code === 401
      ? `the Kubernetes API server refused your credentials (401 Unauthorized): log in again, or check the kubeconfig's user`
      : code === 403
        ? `forbidden: ${said}`
        : code === 503 || code === 502 || code === 504
          ? `the Kubernetes API server at ${server} is unavailable (${code}${status?.message ? `: ${status.message}` : ''})`
          : `${what}: ${code} ${said}`;
  return new KubeApiError(code, reason, message, { cause });
}
