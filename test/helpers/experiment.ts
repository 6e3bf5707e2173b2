import type { Test } from 'tap';
import { stringify } from 'yaml';
import { startAdmin, type AdminHarness } from './admin.js';
import { httpUpstream } from './http.js';

/** A real app on loopback (HTTP), and a sidecar in front of it (listener `up`) with its admin API. */
export async function appBehindSidecar(t: Test): Promise<{ app: number; h: AdminHarness; probeUrl: string }> {
  const { port: app } = await httpUpstream(t);
  const h = await startAdmin(t, app);
  return { app, h, probeUrl: `http://127.0.0.1:${h.port}/health` };
}

/** An experiment document (as plain JS) against one admin target, with short phases; `spec` parts override. */
export function experimentDoc(h: AdminHarness, probeUrl: string, spec: Record<string, unknown>, name = 'checkout'): Record<string, unknown> {
  return {
    apiVersion: 'faultline.dev/v1alpha1',
    kind: 'Experiment',
    metadata: { name },
    spec: {
      targets: [{ name: 'sidecar', admin: { url: h.admin, tokenFile: h.tokenFile } }],
      steadyState: { before: '300ms', after: '300ms', probes: [{ name: 'health', http: { url: probeUrl, status: 200 }, interval: '25ms', maxLatency: '150ms', timeout: '1s' }] },
      ...spec,
    },
  };
}

export const yamlOf = (doc: unknown): string => stringify(doc);
