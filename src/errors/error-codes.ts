/**
 * Every `extensions.code` the gateway answers with (GraphQL errors, WebSocket refusals) and every `error.code`
 * of an export's JSON error: the one catalogue. README (Errors, Query limits, Security) describes when each is
 * given. Anything may import it; it imports nothing.
 */
export const ErrorCode = {
  /** An argument the caller got wrong; the message names it (`extensions.argumentName`). */
  BAD_USER_INPUT: 'BAD_USER_INPUT',
  /** The request itself is malformed (GraphQL over HTTP): bad JSON, no query, a persisted-query hash that does not match. */
  BAD_REQUEST: 'BAD_REQUEST',
  /** PostgreSQL did not answer, or this gateway's report zone is not the database's: a 503 with Retry-After. */
  SERVICE_UNAVAILABLE: 'SERVICE_UNAVAILABLE',
  /** A statement ran past PG_STATEMENT_TIMEOUT_MS: also a 503. */
  QUERY_TIMEOUT: 'QUERY_TIMEOUT',
  /** Anything unexpected; the real error is logged, never sent. */
  INTERNAL_SERVER_ERROR: 'INTERNAL_SERVER_ERROR',
  /** The operation reads the schema (`__schema`, `__type`) and this caller may not (src/graphql/introspection.ts). */
  INTROSPECTION_DISABLED: 'INTROSPECTION_DISABLED',
  /** No valid credentials where AUTH_MODE=required: 401. */
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  /** A field, export or socket origin the caller may not have. */
  FORBIDDEN: 'FORBIDDEN',
  /** The principal's rate budget is spent (or its address failed too many API-key lookups): 429 with Retry-After. */
  RATE_LIMITED: 'RATE_LIMITED',
  /** A subscription past one of the caps (per connection, per principal, per instance). */
  TOO_MANY_SUBSCRIPTIONS: 'TOO_MANY_SUBSCRIPTIONS',
  // The query limits (src/limits/).
  QUERY_TOO_DEEP: 'QUERY_TOO_DEEP',
  QUERY_TOO_COMPLEX: 'QUERY_TOO_COMPLEX',
  TOO_MANY_ALIASES: 'TOO_MANY_ALIASES',
  TOO_MANY_TOKENS: 'TOO_MANY_TOKENS',
  TOO_MANY_DIRECTIVES: 'TOO_MANY_DIRECTIVES',
  QUERY_TOO_LARGE: 'QUERY_TOO_LARGE',
  BATCHING_NOT_SUPPORTED: 'BATCHING_NOT_SUPPORTED',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Codes Apollo Server gives errors itself, which the gateway reads (and for its limits, replaces). */
export const ApolloErrorCode = {
  GRAPHQL_PARSE_FAILED: 'GRAPHQL_PARSE_FAILED',
  GRAPHQL_VALIDATION_FAILED: 'GRAPHQL_VALIDATION_FAILED',
  OPERATION_RESOLUTION_FAILURE: 'OPERATION_RESOLUTION_FAILURE',
} as const;
