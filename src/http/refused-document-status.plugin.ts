import type { ApolloServerPlugin } from '@apollo/server';
import { refusedDocumentStatus } from './early-answer.js';
import { ApolloErrorCode, ErrorCode } from '../errors/error-codes.js';
import { DOCUMENT_LIMIT_CODES } from '../limits/query-limits.js';

/** The codes of errors that refuse a request's document before it runs. */
const REFUSAL_CODES: ReadonlySet<string> = new Set<string>([
  ApolloErrorCode.GRAPHQL_PARSE_FAILED,
  ApolloErrorCode.GRAPHQL_VALIDATION_FAILED,
  ApolloErrorCode.OPERATION_RESOLUTION_FAILURE,
  // Variables that do not fit their types (Apollo's code for them), and bad literal arguments (errors.ts).
  ErrorCode.BAD_USER_INPUT,
  // An operation that reads the schema, from a caller who may not (introspection.ts).
  ErrorCode.INTROSPECTION_DISABLED,
  ...DOCUMENT_LIMIT_CODES,
]);

/**
 * GraphQL over HTTP: a document refused for any reason (syntax, validation, variables, the gateway's limits)
 * is answered 200 under application/json and 400 under application/graphql-response+json. Apollo answers 400
 * either way; this puts the status right once the errors carry their final codes.
 */
export function refusedDocumentStatusPlugin<Context extends object>(): ApolloServerPlugin<Context> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ request, response }) {
          if (response.http.status !== 400 || response.body.kind !== 'single') return;
          const { data, errors } = response.body.singleResult;
          if (data !== undefined || !errors?.length) return;
          if (!errors.every((error) => REFUSAL_CODES.has(String(error.extensions?.code)))) return;
          response.http.status = refusedDocumentStatus(request.http?.headers.get('accept'));
        },
      };
    },
  };
}
