import type { FastifyReply, FastifyRequest } from 'fastify';
import { GraphQLError } from 'graphql';
import { ErrorCode } from '../errors/error-codes.js';
import type { GuardedRoute } from '../http/guarded-route.js';

// Exports answer errors as plain JSON, `{"error":{"code":"...","message":"..."}}`, with the codes GraphQL uses,
// since an export is not a GraphQL response. Every such answer is sent before the first row: once rows flow,
// the status is out and a failure can only cut the connection (see export.stream.ts).

export const EXPORT_PATH_PREFIX = '/export/';

/** A refusal of an export before its first row, with its HTTP status and error code. */
export class ExportError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'ExportError';
  }
}

/** A query parameter the caller got wrong; the message names it. */
export function badParameter(parameter: string, message: string): ExportError {
  return new ExportError(400, ErrorCode.BAD_USER_INPUT, `Parameter "${parameter}" ${message}`);
}

/**
 * The GraphQL checks the exports share (text arguments, day ranges, series length) name the argument as
 * `Argument "from" ...`; here the same check names the query parameter of the same name.
 */
export function fromArgumentError(error: unknown): ExportError | undefined {
  if (!(error instanceof GraphQLError) || error.extensions.code !== ErrorCode.BAD_USER_INPUT) return undefined;
  const argument = error.extensions.argumentName;
  if (typeof argument !== 'string') return new ExportError(400, ErrorCode.BAD_USER_INPUT, error.message);
  return new ExportError(400, ErrorCode.BAD_USER_INPUT, error.message.replace(/^Argument "/, 'Parameter "'));
}

export function sendExportError(reply: FastifyReply, status: number, code: string, message: string): FastifyReply {
  return reply
    .code(status)
    .header('cache-control', 'no-store')
    .type('application/json; charset=utf-8')
    .send(JSON.stringify({ error: { code, message } }));
}

/** The export routes, as authentication and rate budgets guard them (src/http/guarded-route.ts). */
export const exportRouteGuard: GuardedRoute = {
  guards: (request: FastifyRequest) => request.routeOptions.url?.startsWith(EXPORT_PATH_PREFIX) ?? false,
  refuse: (reply, status, code, message) => sendExportError(reply, status, code, message),
};
