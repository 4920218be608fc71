import { nonNegativeInt, positiveInt, type Parsed, type Variables } from './variables.js';

/** What one request may ask of the gateway, and the rate budget of each principal. */
export const limitsVariables = {
  QUERY_MAX_DEPTH: positiveInt.default(10),
  QUERY_MAX_COST: positiveInt.default(5_000),
  QUERY_MAX_ALIASES: nonNegativeInt.default(15),
  QUERY_MAX_TOKENS: positiveInt.default(2_000),
  QUERY_MAX_DIRECTIVES: nonNegativeInt.default(50),
  // Comments are not tokens: a document's length is limited by itself.
  QUERY_MAX_BYTES: positiveInt.default(32 * 1024),
  BODY_LIMIT_BYTES: positiveInt.default(100 * 1024),
  RATE_LIMIT_POINTS: nonNegativeInt.default(20_000),
  RATE_LIMIT_WINDOW_SECONDS: positiveInt.default(60),
} satisfies Variables;

export function limitsConfig(env: Parsed<typeof limitsVariables>) {
  return {
    query: {
      maxDepth: env.QUERY_MAX_DEPTH,
      maxCost: env.QUERY_MAX_COST,
      maxAliases: env.QUERY_MAX_ALIASES,
      maxTokens: env.QUERY_MAX_TOKENS,
      maxDirectives: env.QUERY_MAX_DIRECTIVES,
      /** The longest document, in UTF-8 bytes, comments and white space included. */
      maxDocumentBytes: env.QUERY_MAX_BYTES,
      maxBodyBytes: env.BODY_LIMIT_BYTES,
    },
    /** Cost points per principal and window; 0 points turns rate limiting off. */
    rate: { points: env.RATE_LIMIT_POINTS, windowSeconds: env.RATE_LIMIT_WINDOW_SECONDS },
  };
}

export type LimitsConfig = ReturnType<typeof limitsConfig>;
