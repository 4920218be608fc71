import type { LimitsConfig } from '../config/limits.js';
import { DEFAULT_PAGE_SIZE } from '../graphql/pagination.js';
import type { QueryLimits } from './query-limits.js';

/** The limits a gateway enforces: the configured ones, and connections costed at the page size they default to. */
export function queryLimitsFrom(config: LimitsConfig['query']): QueryLimits {
  return { ...config, defaultPageSize: DEFAULT_PAGE_SIZE };
}
