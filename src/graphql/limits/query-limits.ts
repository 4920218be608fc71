import type { ApolloServerPlugin } from '@apollo/server';
import type { FastifyInstance } from 'fastify';
import {
  GraphQLError,
  Kind,
  getNamedType,
  isCompositeType,
  visit,
  type ASTNode,
  type ASTVisitor,
  type FragmentDefinitionNode,
  type GraphQLFormattedError,
  type GraphQLSchema,
  type SelectionSetNode,
  type ValidationContext,
  type ValidationRule,
} from 'graphql';
import { getComplexity, type ComplexityEstimator } from 'graphql-query-complexity';

// Limits on what one request may ask of the gateway. Depth, aliases and directives are validation rules (they
// run in graphql-js's single validation pass, before anything executes); tokens are a parser option, so a huge
// document is refused while it is being read; cost needs the variables, so it is checked once the operation is
// resolved; body size and batching are HTTP rules that Fastify applies before any hook of ours runs.

export const LimitCode = {
  QUERY_TOO_DEEP: 'QUERY_TOO_DEEP',
  QUERY_TOO_COMPLEX: 'QUERY_TOO_COMPLEX',
  TOO_MANY_ALIASES: 'TOO_MANY_ALIASES',
  TOO_MANY_TOKENS: 'TOO_MANY_TOKENS',
  TOO_MANY_DIRECTIVES: 'TOO_MANY_DIRECTIVES',
  BATCHING_NOT_SUPPORTED: 'BATCHING_NOT_SUPPORTED',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
} as const;

export interface QueryLimits {
  maxDepth: number;
  maxCost: number;
  maxAliases: number;
  maxTokens: number;
  maxDirectives: number;
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
  maxBodyBytes: 100 * 1024,
  defaultPageSize: 20,
};

// Apollo turns every validation error into GRAPHQL_VALIDATION_FAILED; the limit's own code travels in this
// extension and is put back by limitErrorCodes below.
const LIMIT_EXTENSION = 'limitCode';

function limitError(code: string, message: string, details: Record<string, unknown> = {}): GraphQLError {
  return new GraphQLError(message, { extensions: { [LIMIT_EXTENSION]: code, code, ...details, http: { status: 400 } } });
}

/** Deepest field nesting of each operation, fragments included; a fragment cycle or unknown fragment is left to the standard rules. */
export function maxDepthRule(maxDepth: number): ValidationRule {
  return (context: ValidationContext): ASTVisitor => {
    const fragments = new Map<string, FragmentDefinitionNode>();
    for (const definition of context.getDocument().definitions) {
      if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
    }
    const depthOf = (selectionSet: SelectionSetNode, visiting: Set<string>): number => {
      let deepest = 0;
      for (const selection of selectionSet.selections) {
        let depth = 0;
        if (selection.kind === Kind.FIELD) {
          depth = 1 + (selection.selectionSet ? depthOf(selection.selectionSet, visiting) : 0);
        } else if (selection.kind === Kind.INLINE_FRAGMENT) {
          depth = depthOf(selection.selectionSet, visiting);
        } else {
          const name = selection.name.value;
          const fragment = fragments.get(name);
          if (!fragment || visiting.has(name)) continue;
          visiting.add(name);
          depth = depthOf(fragment.selectionSet, visiting);
          visiting.delete(name);
        }
        // Stop as soon as the limit is passed, so an exponential fan-out of fragments costs nothing more.
        if (depth > maxDepth) return depth;
        deepest = Math.max(deepest, depth);
      }
      return deepest;
    };
    return {
      OperationDefinition(operation) {
        const depth = depthOf(operation.selectionSet, new Set());
        if (depth > maxDepth) {
          context.reportError(
            limitError(LimitCode.QUERY_TOO_DEEP, `Query is nested ${depth} levels deep; at most ${maxDepth} are allowed`, { maxDepth }),
          );
        }
        return false;
      },
    };
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

export const maxAliasesRule = (max: number) =>
  countingRule((node) => node.kind === Kind.FIELD && node.alias !== undefined, max, LimitCode.TOO_MANY_ALIASES, 'aliases');

export const maxDirectivesRule = (max: number) =>
  countingRule((node) => node.kind === Kind.DIRECTIVE, max, LimitCode.TOO_MANY_DIRECTIVES, 'directives');

const MULTIPLIERS = ['first', 'last', 'limit', 'days'];

/**
 * Every field costs 1; a list field costs its page size (first/last, or limit/days, or their schema default,
 * or defaultPageSize for a connection) times what is selected under it.
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

/** Checks each operation's cost against its variables and reports it in the `x-query-cost` header. */
export function costLimitPlugin<Context extends object>(schema: GraphQLSchema, limits: QueryLimits): ApolloServerPlugin<Context> {
  const estimators = [costEstimator(limits.defaultPageSize)];
  return {
    async requestDidStart() {
      let cost: number | undefined;
      return {
        async didResolveOperation({ request, document, operationName }) {
          try {
            cost = getComplexity({ schema, query: document, variables: request.variables ?? {}, operationName: operationName ?? undefined, estimators });
          } catch {
            // Variables that do not fit their types: the operation will not run, and execution reports them
            // as BAD_USER_INPUT naming the argument.
            return;
          }
          if (cost > limits.maxCost) {
            throw limitError(LimitCode.QUERY_TOO_COMPLEX, `Query costs ${cost}; at most ${limits.maxCost} is allowed`, {
              cost,
              maxCost: limits.maxCost,
            });
          }
        },
        async willSendResponse({ response }) {
          if (cost !== undefined) response.http.headers.set('x-query-cost', String(cost));
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

function errorBody(code: string, message: string): string {
  return JSON.stringify({ errors: [{ message, extensions: { code } }] });
}

/**
 * HTTP rules for the GraphQL path: a JSON array (batch) is refused with 400 and a body over the limit with 413,
 * both as GraphQL-style errors. They run in preValidation, before the cache-hit shortcut (preHandler) and Apollo.
 */
export function registerHttpLimits(app: FastifyInstance, path: string, limits: QueryLimits): void {
  app.addHook('preValidation', async (request, reply) => {
    if (request.routeOptions.url === path && Array.isArray(request.body)) {
      return reply
        .code(400)
        .type('application/json; charset=utf-8')
        .send(errorBody(LimitCode.BATCHING_NOT_SUPPORTED, 'Batched requests are not supported; send one operation per request'));
    }
  });
  app.setErrorHandler((error: Error & { code?: string; statusCode?: number }, _request, reply) => {
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return reply
        .code(413)
        .type('application/json; charset=utf-8')
        .send(errorBody(LimitCode.PAYLOAD_TOO_LARGE, `Request body is larger than ${limits.maxBodyBytes} bytes`));
    }
    throw error;
  });
}
