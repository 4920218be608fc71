import type { Config } from '../config/config.js';
import { defaultQueryLimits, type QueryLimits } from './query-limits.js';

export type QueryLimitsConfig = Pick<
  Config,
  'QUERY_MAX_DEPTH' | 'QUERY_MAX_COST' | 'QUERY_MAX_ALIASES' | 'QUERY_MAX_TOKENS' | 'QUERY_MAX_DIRECTIVES' | 'QUERY_MAX_BYTES' | 'BODY_LIMIT_BYTES' | 'INTROSPECTION'
>;

/** The limits a gateway enforces; a variable left out takes its default. */
export function queryLimitsFrom(config: Partial<QueryLimitsConfig>): QueryLimits {
  return {
    maxDepth: config.QUERY_MAX_DEPTH ?? defaultQueryLimits.maxDepth,
    maxCost: config.QUERY_MAX_COST ?? defaultQueryLimits.maxCost,
    maxAliases: config.QUERY_MAX_ALIASES ?? defaultQueryLimits.maxAliases,
    maxTokens: config.QUERY_MAX_TOKENS ?? defaultQueryLimits.maxTokens,
    maxDirectives: config.QUERY_MAX_DIRECTIVES ?? defaultQueryLimits.maxDirectives,
    maxDocumentBytes: config.QUERY_MAX_BYTES ?? defaultQueryLimits.maxDocumentBytes,
    maxBodyBytes: config.BODY_LIMIT_BYTES ?? defaultQueryLimits.maxBodyBytes,
    defaultPageSize: defaultQueryLimits.defaultPageSize,
  };
}
