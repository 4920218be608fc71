import { ApolloErrorCode, ErrorCode } from '../errors/error-codes.js';
import {
  GraphQLError,
  OperationTypeNode,
  getOperationAST,
  getVariableValues,
  parse,
  specifiedRules,
  validate,
  type DocumentNode,
  type GraphQLSchema,
} from 'graphql';
import { MAX_VARIABLES_DEPTH, nestedDeeperThan, tooDeeplyNested } from '../limits/nesting.js';
import { queryLimitRules } from '../limits/document-rules.js';
import { createCostCheck } from '../limits/query-cost.js';
import { documentTooLarge, type QueryLimits } from '../limits/query-limits.js';
import type { SeriesSpan } from '../modules/revenue/revenue.cost.js';

// A subscription is held to what a query over HTTP is held to, before anything runs: Apollo Server does this
// for queries, and graphql-ws leaves it to us.

/** An error refusing a subscription; graphql-ws sends it in an `error` message, and the socket stays open. */
export function refusal(code: string, message: string, extensions: Record<string, unknown> = {}): GraphQLError {
  return new GraphQLError(message, { extensions: { code, ...extensions } });
}

/** The error with `code` unless it carries a code (a limit's) already. */
function withCode(error: GraphQLError, code: string): GraphQLError {
  return new GraphQLError(error.message, {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    path: error.path,
    originalError: error.originalError,
    // A limit's own code (and its limitCode marker) wins over the generic one.
    extensions: { code, ...error.extensions },
  });
}

export interface SubscribePayload {
  query: string;
  operationName?: string | null;
  variables?: Record<string, unknown> | null;
  extensions?: Record<string, unknown> | null;
}

export interface CheckedSubscription {
  document: DocumentNode;
  variables: Record<string, unknown>;
  /** The operation's name in the document (what the audit trail records), null for an anonymous one. */
  operationName: string | null;
  /** The query cost, with the variables: what the subscription is charged (plus 1) to the rate budget. */
  cost: number;
}

/**
 * Refuses variables or extensions nested past MAX_VARIABLES_DEPTH and documents over the size limit, then parses (with the token limit),
 * validates (standard rules, depth, aliases, directives), makes sure it is a subscription, coerces the
 * variables and checks the cost with them; returns what to run, or why not.
 */
export function createSubscriptionCheck(schema: GraphQLSchema, limits: QueryLimits, span?: SeriesSpan) {
  const validationRules = [...specifiedRules, ...queryLimitRules(limits)];
  const costs = createCostCheck(schema, limits, span);
  return async (payload: SubscribePayload): Promise<CheckedSubscription | GraphQLError[]> => {
    // First: the live query's key, the cost check and a scalar's error message all walk the variables.
    if (nestedDeeperThan(payload.variables, MAX_VARIABLES_DEPTH)) return [tooDeeplyNested('variables')];
    if (nestedDeeperThan(payload.extensions, MAX_VARIABLES_DEPTH)) return [tooDeeplyNested('extensions')];
    // Before parsing, as over HTTP: the document store and the parser must not see a padded document.
    const tooLarge = documentTooLarge(payload.query, limits);
    if (tooLarge) return [tooLarge];
    let document: DocumentNode;
    try {
      document = parse(payload.query, { maxTokens: limits.maxTokens });
    } catch (error) {
      return [
        error instanceof GraphQLError
          ? withCode(error, ApolloErrorCode.GRAPHQL_PARSE_FAILED)
          : refusal(ApolloErrorCode.GRAPHQL_PARSE_FAILED, 'Invalid document'),
      ];
    }
    const invalid = validate(schema, document, validationRules);
    if (invalid.length > 0) return invalid.map((error) => withCode(error, ApolloErrorCode.GRAPHQL_VALIDATION_FAILED));
    const operation = getOperationAST(document, payload.operationName ?? undefined);
    if (!operation) return [refusal(ErrorCode.BAD_REQUEST, 'Unable to identify the operation: give its operationName')];
    if (operation.operation !== OperationTypeNode.SUBSCRIPTION) {
      return [
        refusal(ErrorCode.BAD_REQUEST, 'Only subscriptions are served over WebSocket; send queries to POST /graphql'),
      ];
    }
    const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], payload.variables ?? {});
    if (coerced.errors) return coerced.errors.map((error) => withCode(error, ErrorCode.BAD_USER_INPUT));
    let cost: number | undefined;
    try {
      cost = await costs.costOf(document, payload.variables ?? {}, payload.operationName ?? undefined);
    } catch (error) {
      if (error instanceof GraphQLError) return [error];
      throw error;
    }
    // The variables were coerced above; this is for the type checker.
    if (cost === undefined) return [refusal(ErrorCode.BAD_USER_INPUT, 'The variables do not fit their types')];
    const tooComplex = costs.overLimit(cost);
    if (tooComplex) return [tooComplex];
    return { document, variables: payload.variables ?? {}, operationName: operation.name?.value ?? null, cost };
  };
}
