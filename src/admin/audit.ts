import type { IncomingMessage } from 'node:http';
import type { Logger } from '../log.js';
import { remoteOf } from './http.js';

/** What one audited call did. */
export interface AuditEntry {
  /** e.g. "killswitch.on", "rules.create", "toxiproxy.proxy.delete". */
  action: string;
  /** HTTP status answered. */
  status: number;
  /** Extra fields: the rule or proxy name, the error... */
  details?: Record<string, unknown>;
}

/**
 * Writes one audit line per change (or refused change) made through the admin or Toxiproxy API:
 * what (`action`, details), when (the line's time), from where (`remote`, `userAgent`), and how
 * it ended (`status`, `outcome`).
 */
export function audit(log: Logger, req: IncomingMessage, entry: AuditEntry): void {
  const outcome = entry.status < 400 ? 'applied' : entry.status === 401 || entry.status === 403 ? 'denied' : 'refused';
  const line = {
    audit: true,
    action: entry.action,
    outcome,
    status: entry.status,
    remote: remoteOf(req),
    userAgent: req.headers['user-agent'],
    method: req.method,
    // The path only: a query string could carry a token someone sent there, and is never logged.
    path: (req.url ?? '/').split('?')[0],
    ...entry.details,
  };
  if (outcome === 'applied') log.info(line, `audit: ${entry.action}`);
  else log.warn(line, `audit: ${entry.action} ${outcome} (${entry.status})`);
}
