import type { ApolloServerPlugin } from '@apollo/server';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import {
  GraphQLError,
  Kind,
  getNamedType,
  getOperationAST,
  getVariableValues,
  isCompositeType,
  visit,
  type ASTNode,
  type ASTVisitor,
  type DocumentNode,
  type FragmentDefinitionNode,
  type GraphQLFormattedError,
  type GraphQLSchema,
  type SelectionSetNode,
  type ValidationContext,
  type ValidationRule,
} from 'graphql';
import depthLimit from 'graphql-depth-limit';
import { getComplexity, type ComplexityEstimator } from 'graphql-query-complexity';
import { isSeriesCostArgument, SeriesPricing, seriesCostEstimator, type SeriesSpan } from '../modules/revenue/revenue.cost.js';
import { CostMemo, type CostArgumentTest } from './cost-memo.js';
import { sendGraphQLError, sendRefusedDocument } from '../http/early-answer.js';

// Limits on what one request may ask of the gateway. Depth, aliases and directives are validation rules (they
// run in graphql-js's single validation pass, before anything executes); tokens are a parser option, so a huge
// document is refused while it is being read; cost needs the variables, so it is checked once the operation is
// resolved; the document's size in bytes is checked before anything parses it (comments are not tokens, so the
// token limit does not bound it); body size and batching are HTTP rules applied before any hook of ours runs.

export const LimitCode = {
  QUERY_TOO_DEEP: 'QUERY_TOO_DEEP',
  QUERY_TOO_COMPLEX: 'QUERY_TOO_COMPLEX',
  TOO_MANY_ALIASES: 'TOO_MANY_ALIASES',
  TOO_MANY_TOKENS: 'TOO_MANY_TOKENS',
  TOO_MANY_DIRECTIVES: 'TOO_MANY_DIRECTIVES',
  QUERY_TOO_LARGE: 'QUERY_TOO_LARGE',
  BATCHING_NOT_SUPPORTED: 'BATCHING_NOT_SUPPORTED',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
} as const;

/** The limits on a document itself; a document over one is refused like an invalid one (refused-document-status.plugin.ts). */
export const DOCUMENT_LIMIT_CODES: readonly string[] = [
  LimitCode.QUERY_TOO_DEEP,
  LimitCode.QUERY_TOO_COMPLEX,
  LimitCode.TOO_MANY_ALIASES,
  LimitCode.TOO_MANY_TOKENS,
  LimitCode.TOO_MANY_DIRECTIVES,
  LimitCode.QUERY_TOO_LARGE,
];

export interface QueryLimits {
  maxDepth: number;
  maxCost: number;
  maxAliases: number;
  maxTokens: number;
  maxDirectives: number;
  /** The longest document, in UTF-8 bytes, comments and white space included. */
  maxDocumentBytes: number;
  maxBodyBytes: number;
  /** The page size a connection is costed at when the query gives neither `first` nor `last`. */
  defaultPageSize: number;
}

export const defaultQueryLimits: QueryLimits = {
  maxDepth: 10,
  maxCost: 5_000,
  maxAliases: 15,
  maxTokens: 2_000,
  maxDirectives: 50,
  maxDocumentBytes: 32 * 1024,
  maxBodyBytes: 100 * 1024,
  defaultPageSize: 20,
};

// Apollo turns every validation error into GRAPHQL_VALIDATION_FAILED; the limit's own code travels in this
// extension and is put back by limitErrorCodes below.
const LIMIT_EXTENSION = 'limitCode';

function limitError(code: string, message: string, details: Record<string, unknown> = {}): GraphQLError {
  return new GraphQLError(message, { extensions: { [LIMIT_EXTENSION]: code, code, ...details, http: { status: 400 } } });
}

/** The most selections a document's fragments may expand to: past it, walking the document costs more than answering it. */
const MAX_FRAGMENT_EXPANSION = 10_000;

type FragmentShape = 'sound' | 'unknown-or-cyclic' | 'too-large';

/**
 * Checks what every walker of the document (graphql-depth-limit, graphql-query-complexity) takes for granted:
 * each spread names a fragment, no fragment spreads itself, and spreading fragments does not multiply the
 * document beyond MAX_FRAGMENT_EXPANSION selections (`...A ...A ...A` in each of 20 chained fragments is 3^20).
 * Counting is memoised per fragment, so the check itself is linear in the document.
 */
function fragmentShape(document: DocumentNode): FragmentShape {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  const expanded = new Map<string, number>();
  const visiting = new Set<string>();
  let unsound = false;
  const sizeOf = (selectionSet: SelectionSetNode | undefined): number => {
    let size = 0;
    for (const selection of selectionSet?.selections ?? []) {
      if (unsound) return 0;
      if (selection.kind === Kind.FRAGMENT_SPREAD) {
        const name = selection.name.value;
        const fragment = fragments.get(name);
        if (!fragment || visiting.has(name)) {
          unsound = true;
          return 0;
        }
        if (!expanded.has(name)) {
          visiting.add(name);
          expanded.set(name, sizeOf(fragment.selectionSet));
          visiting.delete(name);
        }
        size += expanded.get(name)!;
      } else {
        size += 1 + sizeOf(selection.selectionSet);
      }
      // Saturate rather than overflow: only "over the bound" matters.
      if (size > MAX_FRAGMENT_EXPANSION) size = MAX_FRAGMENT_EXPANSION + 1;
    }
    return size;
  };
  let total = 0;
  for (const definition of document.definitions) {
    if (definition.kind === Kind.OPERATION_DEFINITION) total += sizeOf(definition.selectionSet);
  }
  for (const [name, fragment] of fragments) {
    if (!expanded.has(name) && !unsound) {
      visiting.add(name);
      expanded.set(name, sizeOf(fragment.selectionSet));
      visiting.delete(name);
    }
  }
  if (unsound) return 'unknown-or-cyclic';
  return total > MAX_FRAGMENT_EXPANSION ? 'too-large' : 'sound';
}

/**
 * Depth with graphql-depth-limit: the root fields are depth 0, so `{ dashboard { totalRevenue } }` is 1 deep.
 * It recurses into fragments without guards, so a document with an unknown or cyclic fragment is left to the
 * standard rules (KnownFragmentNames, NoFragmentCycles), and one that expands past MAX_FRAGMENT_EXPANSION is
 * refused before it is walked.
 */
function maxDepthRule(maxDepth: number): ValidationRule {
  const depthRule = depthLimit(maxDepth) as (context: Pick<ValidationContext, 'getDocument' | 'reportError'>) => unknown;
  return (context: ValidationContext): ASTVisitor => {
    const document = context.getDocument();
    const shape = fragmentShape(document);
    if (shape === 'too-large') {
      context.reportError(
        limitError(LimitCode.QUERY_TOO_COMPLEX, `Query's fragments expand to more than ${MAX_FRAGMENT_EXPANSION} selections`, {
          maxExpandedSelections: MAX_FRAGMENT_EXPANSION,
        }),
      );
    } else if (shape === 'sound') {
      let reported = false;
      depthRule({
        getDocument: () => document,
        // graphql-depth-limit reports once per path over the limit; one error says it all.
        reportError: () => {
          if (reported) return;
          reported = true;
          context.reportError(
            limitError(LimitCode.QUERY_TOO_DEEP, `Query is nested more than ${maxDepth} levels below its root fields`, { maxDepth }),
          );
        },
      });
    }
    return {};
  };
}

/**
 * Counts nodes over the whole document when validation starts: graphql-js stops after 100 errors, and other
 * rules (a directive repeated on one field) would otherwise fill them before a count at the end is reported.
 */
function countingRule(counts: (node: ASTNode) => boolean, max: number, code: string, what: string): ValidationRule {
  return (context) => ({
    Document(document) {
      let seen = 0;
      visit(document, {
        enter(node) {
          if (counts(node)) seen++;
        },
      });
      if (seen > max) context.reportError(limitError(code, `Query has ${seen} ${what}; at most ${max} are allowed`, { max }));
    },
  });
}

const maxAliasesRule = (max: number) =>
  countingRule((node) => node.kind === Kind.FIELD && node.alias !== undefined, max, LimitCode.TOO_MANY_ALIASES, 'aliases');

const maxDirectivesRule = (max: number) =>
  countingRule((node) => node.kind === Kind.DIRECTIVE, max, LimitCode.TOO_MANY_DIRECTIVES, 'directives');

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
      const value = args[name] ?? field.args.find((arg) => arg.name === name)?.defaultValue;
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
  const price = (document: DocumentNode, variables: Record<string, unknown>, operationName: string | undefined, pricing: SeriesPricing) =>
    getComplexity({ schema, query: document, variables, operationName, estimators, context: pricing });
  const tooComplex = (message: string, details: Record<string, unknown>) =>
    limitError(LimitCode.QUERY_TOO_COMPLEX, message, { ...details, maxCost: limits.maxCost });
  const memo = new CostMemo(schema, isCostArgument);
  return {
    /**
     * The cost of the operation with these variables; undefined when the variables do not fit their types (the
     * operation will not run, and execution reports them as BAD_USER_INPUT naming the argument). Throws
     * QUERY_TOO_COMPLEX when the document cannot be priced: graphql-query-complexity gives up on a document
     * whose fragments spread into more than 10,000 selections, and a document that cannot be priced must not
     * run unpriced.
     */
    costOf: async (document: DocumentNode, variables: Record<string, unknown>, operationName: string | undefined): Promise<number | undefined> => {
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
      if (!(pricing.openEnded && span && bounds === undefined)) slot?.keep(cost, pricing.openEnded ? { value: bounds } : undefined);
      return cost;
    },
    /** QUERY_TOO_COMPLEX for a cost over the limit. */
    overLimit: (cost: number): GraphQLError | undefined =>
      cost > limits.maxCost ? tooComplex(`Query costs ${cost}; at most ${limits.maxCost} is allowed`, { cost }) : undefined,
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

export function queryLimitRules(limits: QueryLimits): ValidationRule[] {
  return [maxDepthRule(limits.maxDepth), maxAliasesRule(limits.maxAliases), maxDirectivesRule(limits.maxDirectives)];
}

// graphql-js spells it "more that" (16.x) or "more than".
const TOKEN_ERROR = /^Syntax Error: Document contains more tha[nt] \d+ tokens/;
const SUGGESTION = / ?Did you mean .*\?$/;

/**
 * Puts the limit codes back on errors Apollo classed as parse or validation failures, and in production drops
 * "Did you mean ...?" so the schema cannot be guessed field by field.
 */
export function limitErrorCodes(options: { hideSuggestions: boolean }) {
  return (formatted: GraphQLFormattedError): GraphQLFormattedError => {
    const extensions = formatted.extensions ?? {};
    let result = formatted;
    if (typeof extensions[LIMIT_EXTENSION] === 'string') {
      const { [LIMIT_EXTENSION]: code, ...rest } = extensions;
      result = { ...formatted, extensions: { ...rest, code } };
    } else if (extensions.code === 'GRAPHQL_PARSE_FAILED' && TOKEN_ERROR.test(formatted.message)) {
      result = { ...formatted, extensions: { ...extensions, code: LimitCode.TOO_MANY_TOKENS } };
    }
    if (options.hideSuggestions && SUGGESTION.test(result.message)) {
      result = { ...result, message: result.message.replace(SUGGESTION, '') };
    }
    return result;
  };
}

/** QUERY_TOO_LARGE for a document longer than the limit (for subscriptions too); measured without copying it. */
export function documentTooLarge(query: string, limits: Pick<QueryLimits, 'maxDocumentBytes'>): GraphQLError | undefined {
  // A UTF-16 unit is at most three bytes in UTF-8: a document of up to a third of the limit needs no count.
  if (query.length * 3 <= limits.maxDocumentBytes) return undefined;
  const bytes = Buffer.byteLength(query, 'utf8');
  if (bytes <= limits.maxDocumentBytes) return undefined;
  return limitError(LimitCode.QUERY_TOO_LARGE, `Query document is ${bytes} bytes long; at most ${limits.maxDocumentBytes} are allowed`, {
    maxBytes: limits.maxDocumentBytes,
  });
}

function queryOf(request: FastifyRequest): unknown {
  const source = request.method === 'GET' ? request.query : request.body;
  return typeof source === 'object' && source !== null ? (source as Record<string, unknown>).query : undefined;
}

/**
 * HTTP rules for the GraphQL path, in preValidation, before the cache-hit shortcut (preHandler) and Apollo: a
 * JSON array (batch) is refused with 400, and a document over QUERY_MAX_BYTES before anything parses it. A
 * body over the limit is refused by Fastify before any hook runs, with 413 (src/http/protocol-errors.ts).
 * A callback hook, as the other hooks of every request that never wait: an async one costs a promise and a
 * turn of the event loop's microtask queue each time.
 */
export function registerHttpLimits(app: FastifyInstance, path: string, limits: QueryLimits): void {
  app.addHook('preValidation', (request, reply, done) => {
    if (request.routeOptions.url !== path) return done();
    if (Array.isArray(request.body)) {
      sendGraphQLError(reply, 400, LimitCode.BATCHING_NOT_SUPPORTED, 'Batched requests are not supported; send one operation per request');
      return;
    }
    const query = queryOf(request);
    const tooLarge = typeof query === 'string' ? documentTooLarge(query, limits) : undefined;
    if (tooLarge) {
      sendRefusedDocument(reply, LimitCode.QUERY_TOO_LARGE, tooLarge.message, { maxBytes: limits.maxDocumentBytes });
      return;
    }
    done();
  });
}
