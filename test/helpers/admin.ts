import { writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Test } from 'tap';
import { request } from 'undici';
import type { AdminCredentials } from '../../src/admin/auth.js';
import { RuntimeLayers } from '../../src/admin/layers.js';
import { createAdminServer } from '../../src/admin/server.js';
import { Metrics } from '../../src/metrics.js';
import { Sidecar } from '../../src/sidecar.js';
import { createToxiproxyServer } from '../../src/toxiproxy/server.js';
import { startSidecar, stopSidecar, tempDir } from './sidecar.js';

export const TOKEN = 'test-token-0123456789abcdef';

/** Listens on 127.0.0.1:0; closed (with its connections) at teardown. Resolves with the base URL. */
export async function serve(t: Test, server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

/** A log that keeps its JSON lines, for audit and connection-line assertions. */
export function memoryLog(): { log: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'info' }, { write: (text: string) => void lines.push(JSON.parse(text) as Record<string, unknown>) });
  return { log, lines };
}

export interface AdminHarness {
  sidecar: Sidecar;
  tokenFile: string;
  port: number;
  admin: string;
  write: (rules?: string, extra?: string) => void;
  lines: Record<string, unknown>[];
  /** An admin API call; `token` false sends none; `header` says how it is sent (default Authorization). */
  call(method: string, path: string, options?: { body?: unknown; token?: string | false; header?: 'authorization' | 'x-faultline-token' }): Promise<{ status: number; json: any; headers: Record<string, unknown> }>;
}

/** A file-backed sidecar (listener `up` → `upstreamPort`) with its admin API on port 0 and a token file. */
export async function startAdmin(t: Test, upstreamPort: number, rules?: string, options: { tokenFile?: boolean; credentials?: AdminCredentials } = {}): Promise<AdminHarness> {
  const { sidecar, port, write } = await startSidecar(t, upstreamPort, rules);
  const dir = tempDir(t);
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, `${TOKEN}\n`);
  const { log, lines } = memoryLog();
  const admin = await serve(t, createAdminServer({ sidecar, tokenFile: options.tokenFile === false ? undefined : tokenFile, log, ...(options.credentials ? { credentials: options.credentials } : {}) }));
  return {
    sidecar,
    tokenFile,
    port,
    admin,
    write,
    lines,
    async call(method, path, { body, token = TOKEN, header = 'authorization' } = {}) {
      const headers: Record<string, string> = {};
      if (token) headers[header] = header === 'authorization' ? `Bearer ${token}` : token;
      if (body !== undefined) headers['content-type'] = 'application/json';
      const res = await request(`${admin}${path}`, { method: method as 'GET', headers, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
      const text = await res.body.text();
      const json = text && String(res.headers['content-type']).startsWith('application/json') ? JSON.parse(text) : undefined;
      return { status: res.statusCode, json, headers: res.headers };
    },
  };
}

/** An in-process sidecar with no file policy and the Toxiproxy API on port 0 (its base URL). */
export async function startToxiproxy(t: Test, options: { admin?: boolean } = {}): Promise<{ sidecar: Sidecar; api: string; admin?: string; lines: Record<string, unknown>[] }> {
  const { log, lines } = memoryLog();
  const sidecar = new Sidecar({ log: pino({ level: 'silent' }), metrics: new Metrics({ processMetrics: false }) });
  await sidecar.start();
  t.teardown(() => stopSidecar(sidecar));
  const layers = new RuntimeLayers(sidecar);
  const api = await serve(t, createToxiproxyServer({ layers, metrics: sidecar.metrics, log }));
  const admin = options.admin ? await serve(t, createAdminServer({ sidecar, layers, log })) : undefined;
  return { sidecar, api, lines, ...(admin ? { admin } : {}) };
}
