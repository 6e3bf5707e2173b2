import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Answer } from '../faults/types.js';
import type { CompiledFault } from '../policy/compile.js';

/** The SPEC's error body: what an injected fault or a real upstream failure answers with. */
export interface ErrorBody {
  error: 'fault_injected' | 'upstream_unavailable' | 'upstream_timeout' | 'bad_request';
  message: string;
  code: number;
  rule?: string | undefined;
  fault?: string | undefined;
  requestId: string;
  retryable: boolean;
  timestamp: string;
}

/** Builds the SPEC's JSON error body. `requestId` is the request's x-request-id when it has one. */
export function errorBody(fields: Omit<ErrorBody, 'requestId' | 'timestamp'> & { requestId?: string | undefined }): ErrorBody {
  return { ...fields, requestId: fields.requestId ?? randomUUID(), timestamp: new Date().toISOString() };
}

/** The `x-faultline-fault` header value: `<rule>/<fault>`. */
export const faultHeader = (rule: string, fault: string): string => `${rule}/${fault}`;

/**
 * A complete HTTP/1.1 response carrying `body` (JSON unless a string), with `x-faultline-fault`
 * when a fault answered. `close` adds `connection: close`; `head` omits the body (HEAD requests).
 */
export function http1Response(status: number, body: ErrorBody | string, options: { fault?: string | undefined; close?: boolean; head?: boolean; contentType?: string } = {}): Buffer {
  const json = typeof body !== 'string';
  const payload = Buffer.from(json ? JSON.stringify(body) : body);
  const lines = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}`,
    `content-type: ${options.contentType ?? (json ? 'application/json' : 'text/plain; charset=utf-8')}`,
    `content-length: ${payload.length}`,
    ...(options.fault ? [`x-faultline-fault: ${options.fault}`] : []),
    ...(options.close ? ['connection: close'] : []),
    '',
    '',
  ];
  const head = Buffer.from(lines.join('\r\n'), 'latin1');
  return options.head ? head : Buffer.concat([head, payload]);
}

/** What a fault's answer says over HTTP, whatever the version: status, content type, body. */
export interface FaultReply {
  status: number;
  contentType: string;
  body: string;
  /** `x-faultline-fault`. */
  fault: string;
}

/** The HTTP reply to `answer` from `fault`: its own body, or the SPEC's JSON error. */
export function faultReply(fault: CompiledFault, answer: Answer, requestId: string | undefined): FaultReply {
  const body =
    answer.body ??
    JSON.stringify(
      errorBody({
        error: 'fault_injected',
        message: `${fault.type.type} of rule ${fault.rule} answered this request`,
        code: answer.status,
        rule: fault.rule,
        fault: fault.type.type,
        retryable: answer.retryable ?? answer.status >= 500,
        requestId,
      }),
    );
  const contentType = answer.body === undefined ? 'application/json' : 'text/plain; charset=utf-8';
  return { status: answer.status, contentType, body, fault: faultHeader(fault.rule, fault.type.type) };
}
