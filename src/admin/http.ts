import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseDocument } from 'yaml';
import { RequestError } from '../errors.js';

/** Largest request body the admin and Toxiproxy APIs read; more is answered 413. */
export const MAX_BODY_BYTES = 1024 * 1024;

/**
 * Reads a request body, at most MAX_BODY_BYTES. Rejects with a 413 RequestError when it is
 * larger (the rest is not read).
 */
export function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<string> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      req.resume();
      return reject(new RequestError(413, 'body_too_large', `request body over ${limit} bytes`));
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        reject(new RequestError(413, 'body_too_large', `request body over ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.once('error', reject);
  });
}

/** Parses JSON text; a syntax error is a 400 RequestError, `what` says which body. */
export function parseJson(text: string, what = 'request body'): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new RequestError(400, 'malformed_json', `${what} is not valid JSON: ${(err as Error).message}`);
  }
}

/** YAML media types (RFC 9512 and the older ones clients still send). */
const YAML_TYPES = /^(application\/(yaml|x-yaml)|text\/(yaml|x-yaml))\s*(;|$)/i;

/** A body as its content type says: YAML (application/yaml, text/yaml) or JSON (anything else); a 400 when malformed. */
export function parseBody(text: string, contentType: string, what = 'request body'): unknown {
  if (!YAML_TYPES.test(contentType)) return parseJson(text, what);
  const doc = parseDocument(text);
  if (doc.errors.length > 0) throw new RequestError(400, 'malformed_yaml', `${what} is not valid YAML: ${doc.errors[0]?.message.split('\n')[0]}`);
  return doc.toJS() as unknown;
}

/** Sends `body` as JSON with `status`. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = `${JSON.stringify(body, null, 0)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers }).end(text);
}

/** "ADDRESS:PORT" of the peer of a request, for audit lines. */
export function remoteOf(req: IncomingMessage): string {
  const { remoteAddress, remotePort } = req.socket;
  if (!remoteAddress) return 'unknown';
  return remoteAddress.includes(':') ? `[${remoteAddress}]:${remotePort}` : `${remoteAddress}:${remotePort}`;
}

/** Splits a request URL into its decoded path segments and its query. */
export function route(req: IncomingMessage): { segments: string[]; query: URLSearchParams } {
  const url = new URL(req.url ?? '/', 'http://local');
  const segments = url.pathname
    .split('/')
    .filter((s) => s.length > 0)
    .map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        throw new RequestError(400, 'malformed_path', `malformed path segment "${s}"`);
      }
    });
  return { segments, query: url.searchParams };
}
