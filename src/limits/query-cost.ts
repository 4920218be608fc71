import type { ApolloServerPlugin } from '@apollo/server';
import {
  getNamedType,
  getOperationAST,
  getVariableValues,
  isCompositeType,
  type DocumentNode,
  type GraphQLError,
  type GraphQLSchema,
} from 'graphql';
import { getComplexity, type ComplexityEstimator } from 'graphql-query-complexity';
import { ErrorCode } from '../errors/error-codes.js';
import {
  isSeriesCostArgument,
  SeriesPricing,
  seriesCostEstimator,
  type SeriesSpan,
} from '../modules/revenue/revenue.cost.js';
import { CostMemo, type CostArgumentTest } from './cost-memo.js';
import { limitError, type QueryLimits } from './query-limits.js';

// The cost of an operation needs its variables, so it is checked once the operation is resolved, for queries
// over HTTP and subscriptions alike.

const MULTIPLIERS = ['first', 'last', 'limit', 'days'];

/** The arguments the estimators read: a cost stays the same while their values do. */
export const isCostArgument: CostArgumentTest = (parent, field, argument) =>
  MULTIPLIERS.includes(argument) || isSeriesCostArgument(parent, field);

/**
 * Every field costs 1; a list field costs its page size (first/last, or limit/days, or their schema default,
 * or defaultPageSize for a connection) times what is selected under it. Revenue series are priced before
 * this, by seriesCostEstimator.
 */
export function costEstimator(defaultPageSize: number): ComplexityEstimator {
  return ({ field, args, childComplexity }) => {
    let size: number | undefined;
    for (const name of MULTIPLIERS) {
      const value: unknown = args[name] ?? field.args.find((arg) => arg.name === name)?.defaultValue;
      if (typeof value === 'number') size = Math.max(size ?? 0, value);
    }
    if (size === undefined && field.args.some((arg) => arg.name === 'first')) size = defaultPageSize;
    if (size === undefined && isCompositeType(getNamedType(field.type))) size = 1;
    return 1 + (size ?? 0) * childComplexity;
  };
}

/**
 * The cost of operations, the same for queries over HTTP and subscriptions over WebSocket. Revenue series are
 * priced by their bucket count (src/modules/revenue/revenue.cost.ts); one with an open end needs the data's
 * bounds from `span`, read only when a document has such a series and they are not known for the current data.
 * Without `span`, an open end is priced at the longest series there can be.
 */
export function createCostCheck(schema: GraphQLSchema, limits: QueryLimits, span?: SeriesSpan) {
  const estimators = [seriesCostEstimator(), costEstimator(limits.defaultPageSize)];
  const price = (
    document: DocumentNode,
    variables: Record<string, unknown>,
    operationName: string | undefined,
    pricing: SeriesPricing,
  ) => getComplexity({ schema, query: document, variables, operationName, estimators, context: pricing });
  const tooComplex = (message: string, details: Record<string, unknown>) =>
    limitError(ErrorCode.QUERY_TOO_COMPLEX, message, { ...details, maxCost: limits.maxCost });
  const memo = new CostMemo(schema, isCostArgument);
  return {
    /**
     * The cost of the operation with these variables; undefined when the variables do not fit their types (the
     * operation will not run, and execution reports them as BAD_USER_INPUT naming the argument). Throws
     * QUERY_TOO_COMPLEX when the document cannot be priced: graphql-query-complexity gives up on a document
     * whose fragments spread into more than 10,000 selections, and a document that cannot be priced must not
     * run unpriced.
     */
    costOf: async (
      document: DocumentNode,
      variables: Record<string, unknown>,
      operationName: string | undefined,
    ): Promise<number | undefined> => {
      const operation = getOperationAST(document, operationName);
      if (!operation) return undefined;
      const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], variables);
      if (coerced.errors) return undefined;
      const known = span?.known();
      const slot = memo.slot(document, operationName, coerced.coerced);
      const remembered = slot?.cost(known, span !== undefined);
      if (remembered !== undefined) return remembered;
      const priced = (pricing: SeriesPricing) => {
        try {
          return price(document, variables, operationName, pricing);
        } catch (error) {
          throw tooComplex(`Query cannot be priced: ${error instanceof Error ? error.message : String(error)}`, {});
        }
      };
      let pricing = new SeriesPricing(document, known, known !== undefined || !span);
      let cost = priced(pricing);
      let bounds = known;
      if (pricing.needsBounds && span) {
        bounds = await span.read();
        pricing = new SeriesPricing(document, bounds, true);
        cost = priced(pricing);
      }
      // Priced at its largest because the database could not tell its bounds: the next request asks again.
      if (!(pricing.openEnded && span && bounds === undefined))
        slot?.keep(cost, pricing.openEnded ? { value: bounds } : undefined);
      return cost;
    },
    /** QUERY_TOO_COMPLEX for a cost over the limit. */
    overLimit: (cost: number): GraphQLError | undefined =>
      cost > limits.maxCost
        ? tooComplex(`Query costs ${cost}; at most ${limits.maxCost} is allowed`, { cost })
        : undefined,
  };
}

/** Checks each operation's cost against its variables and reports it in `extensions.cost` and the `x-query-cost` header. */
export function costLimitPlugin<Context extends { chargeCost(points: number): Promise<void> }>(
  schema: GraphQLSchema,
  limits: QueryLimits,
  span?: SeriesSpan,
): ApolloServerPlugin<Context> {
  const check = createCostCheck(schema, limits, span);
  return {
    async requestDidStart() {
      let cost: number | undefined;
      return {
        async didResolveOperation({ request, document, operationName, contextValue }) {
          cost = await check.costOf(document, request.variables ?? {}, operationName ?? undefined);
          if (cost === undefined) return;
          const tooComplex = check.overLimit(cost);
          if (tooComplex) throw tooComplex;
          // The request paid 1 point of its rate budget on arrival; the rest of its cost before it runs.
          await contextValue.chargeCost(cost - 1);
        },
        async willSendResponse({ response, metrics }) {
          // A cached answer costs nothing to serve, and answers the cache-hit shortcut sends carry no cost either.
          if (cost === undefined || metrics.responseCacheHit) return;
          response.http.headers.set('x-query-cost', String(cost));
          if (response.body.kind === 'single') {
            const result = response.body.singleResult;
            result.extensions = { ...result.extensions, cost: { requested: cost, maximum: limits.maxCost } };
          }
        },
      };
    },
  };
}
