import { GraphQLError, parse, visit, type GraphQLFormattedError, type ValueNode } from 'graphql';
import { unwrapResolverError } from '@apollo/server/errors';
import { ApolloErrorCode, ErrorCode } from '../errors/error-codes.js';
import { currentRequest } from '../observability/request-context.js';
import type { Logger } from '../observability/logger.js';

/** An argument the caller got wrong; the message names the argument. */
export function badInput(argument: string, message: string): GraphQLError {
  return new GraphQLError(`Argument "${argument}" ${message}`, {
    extensions: { code: ErrorCode.BAD_USER_INPUT, argumentName: argument },
  });
}

/** PostgreSQL did not answer; the response goes out as 503 (see unavailable-status.plugin.ts). */
export function serviceUnavailable(): GraphQLError {
  return new GraphQLError('The database is unavailable; try again shortly', {
    extensions: { code: ErrorCode.SERVICE_UNAVAILABLE },
  });
}

/**
 * This gateway's REPORT_TIMEZONE is not the database's report zone (src/db/report-zone.ts): nothing it answered
 * would be in the days it announces. A 503, like every refusal a restart or a re-zone mends.
 */
export function reportZoneUnavailable(reason: string): GraphQLError {
  return new GraphQLError(`This gateway does not serve reports now: ${reason}`, {
    extensions: { code: ErrorCode.SERVICE_UNAVAILABLE },
  });
}

/** The session reported in another zone than the rollups (MP001) or in none (MP002): the database was re-zoned under it. */
export function sessionZoneUnavailable(): GraphQLError {
  return new GraphQLError("The database's report time zone changed; try again shortly", {
    extensions: { code: ErrorCode.SERVICE_UNAVAILABLE },
  });
}

/** A statement ran past PG_STATEMENT_TIMEOUT_MS and PostgreSQL cancelled it; also a 503. */
export function queryTimeout(): GraphQLError {
  return new GraphQLError('The query took too long and was cancelled; try again shortly or ask for less', {
    extensions: { code: ErrorCode.QUERY_TIMEOUT },
  });
}

/** Something failed that the caller cannot mend; the real error is logged where it happened. */
export function internalError(): GraphQLError {
  return new GraphQLError('Internal server error', { extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR } });
}

/** The error codes that make a response HTTP 503 with Retry-After. */
export const RETRYABLE_CODES: ReadonlySet<string> = new Set([ErrorCode.SERVICE_UNAVAILABLE, ErrorCode.QUERY_TIMEOUT]);

const QUERY_CANCELED = '57014';

/** Raised by the reporting views (sql/migrations/004, 009): the session's report zone is not the rollups', or it has none. */
export function isReportZoneError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (code === 'MP001' || code === 'MP002') return true;
  return error.cause !== undefined && isReportZoneError(error.cause);
}

/** PostgreSQL cancelled the statement because of statement_timeout (not a cancel asked for by somebody). */
export function isQueryTimeout(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if ((error as { code?: unknown }).code === QUERY_CANCELED && /statement timeout/.test(error.message)) return true;
  return error.cause !== undefined && isQueryTimeout(error.cause);
}

// Connection-level failures: the server is down, restarting, refusing connections, or unreachable.
// A statement cancelled by an operator (pg_cancel_backend, 57014 without a timeout) is transient too.
const UNAVAILABLE_SQLSTATE = /^(08|57P0[1-3]|53300|57014)/;
const UNAVAILABLE_ERRNO = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'EPIPE',
]);
const UNAVAILABLE_MESSAGE =
  /Connection terminated|timeout exceeded when trying to connect|did not answer within|connect ECONNREFUSED|Query read timeout/;

export function isDatabaseUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && (UNAVAILABLE_SQLSTATE.test(code) || UNAVAILABLE_ERRNO.has(code))) return true;
  if (error instanceof AggregateError) return error.errors.some(isDatabaseUnavailable);
  return UNAVAILABLE_MESSAGE.test(error.message) || (error.cause !== undefined && isDatabaseUnavailable(error.cause));
}

// graphql-js reports a bad literal argument (an unknown enum value, "2025-02-30" for a Date) as a validation
// error without the argument's name. These are argument problems, so they become BAD_USER_INPUT naming it.
const VALUE_ERROR =
  /^(Expected value of type|Value ".*" does not exist in|Enum ".*" cannot represent|Int cannot represent|Float cannot represent|String cannot represent|Boolean cannot represent|ID cannot represent)/;

function argumentAt(error: GraphQLError): string | undefined {
  const node = error.nodes?.[0] as ValueNode | undefined;
  const loc = node?.loc;
  if (!loc) return undefined;
  let name: string | undefined;
  visit(parse(loc.source), {
    Argument(arg) {
      if (arg.loc && arg.loc.start <= loc.start && loc.end <= arg.loc.end) name = arg.name.value;
    },
  });
  return name;
}

// A bad variable value is reported by graphql-js with the variable's name; add the argument(s) it feeds.
const VARIABLE_ERROR = /^Variable "\$([_A-Za-z][_0-9A-Za-z]*)" got invalid value/;

function argumentsUsing(error: GraphQLError, variable: string): string[] {
  const source = error.nodes?.[0]?.loc?.source;
  if (!source) return [];
  const names = new Set<string>();
  let current: string | undefined;
  visit(parse(source), {
    Argument: {
      enter(arg) {
        current = arg.name.value;
      },
      leave() {
        current = undefined;
      },
    },
    Variable(node) {
      if (current && node.name.value === variable) names.add(current);
    },
  });
  return [...names];
}

export type ErrorLogger = Pick<Logger, 'error'>;

/**
 * Error masking: a GraphQLError that carries a code of ours or Apollo's passes through; anything else is
 * logged in full and becomes INTERNAL_SERVER_ERROR with no SQL, stack or host names in it.
 */
export function createFormatError(options: {
  logger: ErrorLogger;
  exposeDetails: boolean;
  onReportZoneError?: () => void;
}) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const original = unwrapResolverError(error);
    const zoneError = isReportZoneError(original);
    if (zoneError) options.onReportZoneError?.();
    // The timeout first: its SQLSTATE (57014) is also one of the "unavailable" ones.
    const database = isQueryTimeout(original)
      ? queryTimeout()
      : isDatabaseUnavailable(original)
        ? serviceUnavailable()
        : zoneError
          ? sessionZoneUnavailable()
          : undefined;
    if (database) {
      return {
        message: database.message,
        locations: formatted.locations,
        path: formatted.path,
        extensions: { code: database.extensions.code },
      };
    }
    if (original instanceof GraphQLError) {
      // Apollo refuses some malformed requests (a persisted-query hash that does not match its query, an
      // unknown persisted-query version) with a 4xx status and no code, which would read as our fault.
      const status = (original.extensions.http as { status?: unknown } | undefined)?.status;
      if (
        formatted.extensions?.code === ErrorCode.INTERNAL_SERVER_ERROR &&
        typeof status === 'number' &&
        status >= 400 &&
        status < 500
      ) {
        return { ...formatted, extensions: { ...formatted.extensions, code: ErrorCode.BAD_REQUEST } };
      }
      if (
        formatted.extensions?.code === ApolloErrorCode.GRAPHQL_VALIDATION_FAILED &&
        VALUE_ERROR.test(formatted.message)
      ) {
        const argument = argumentAt(original);
        return {
          ...formatted,
          message: argument ? `Argument "${argument}" has an invalid value: ${formatted.message}` : formatted.message,
          extensions: {
            ...formatted.extensions,
            code: ErrorCode.BAD_USER_INPUT,
            ...(argument ? { argumentName: argument } : {}),
          },
        };
      }
      const variable = VARIABLE_ERROR.exec(formatted.message)?.[1];
      if (variable && formatted.extensions?.code === ErrorCode.BAD_USER_INPUT) {
        const used = argumentsUsing(original, variable);
        if (used.length > 0) {
          const list = used.map((name) => `"${name}"`).join(', ');
          return {
            ...formatted,
            message: `Argument ${list} has an invalid value: ${formatted.message}`,
            extensions: { ...formatted.extensions, argumentName: used[0] },
          };
        }
      }
      return formatted;
    }
    options.logger.error(
      { err: original, path: formatted.path, requestId: currentRequest()?.requestId },
      'unexpected error while resolving a request',
    );
    return {
      message: 'Internal server error',
      locations: formatted.locations,
      path: formatted.path,
      extensions: {
        code: ErrorCode.INTERNAL_SERVER_ERROR,
        ...(options.exposeDetails && original instanceof Error ? { detail: original.message } : {}),
      },
    };
  };
}
