import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';

/** What the gateway learns about one HTTP request while serving it, for its log line and its metrics. */
export interface RequestRecord {
  requestId: string;
  /** The GraphQL operation name (or `anonymous`); undefined for routes other than /graphql. */
  operation?: string;
  /** `extensions.code` of every error in the response, in order. */
  errorCodes: string[];
  /** What an export route wrote: its kind and format, the rows handed to the response, and whether it got to its end. */
  exported?: ExportRecord;
}

export interface ExportRecord {
  kind: string;
  format: string;
  rows: number;
  complete: boolean;
}

/**
 * The record of the request being served, reachable from anywhere below the HTTP layer (Apollo plugins, the
 * error formatter, the database pool) without threading it through every call.
 */
export const requestContext = new AsyncLocalStorage<RequestRecord>();

export function currentRequest(): RequestRecord | undefined {
  return requestContext.getStore();
}

// A client's x-request-id is repeated in headers, logs and PostgreSQL's application_name: only short
// printable tokens are taken as they are, anything else is replaced by a fresh id.
const ACCEPTABLE_ID = /^[A-Za-z0-9._:@/+=-]{1,64}$/;

/** The request id: the caller's `x-request-id` when it is a sane token, else a new UUID. */
export function requestIdFrom(header: string | string[] | undefined): string {
  const value = Array.isArray(header) ? header[0] : header;
  return value !== undefined && ACCEPTABLE_ID.test(value) ? value : randomUUID();
}
