import type { AuthConfig } from '../auth/authenticate.js';
import type { Config } from '../config/config.js';
import type { QueryLimitsConfig } from '../limits/limits-config.js';
import type { SubscriptionConfig } from '../subscriptions/subscription-config.js';

/** The path of GraphQL over HTTP and of the WebSocket side. */
export const GRAPHQL_PATH = '/graphql';
// What a 503 tells clients to wait, as the error formatter's answers do (unavailable-status.plugin.ts).
export const RETRY_AFTER_SECONDS = 5;

export type ServerConfig = Pick<Config, 'NODE_ENV' | 'CURSOR_SECRET' | 'HEALTH_TIMEOUT_MS'> &
  Partial<Pick<Config, 'SANDBOX' | 'REPORT_TIMEZONE' | 'REQUEST_READ_TIMEOUT_MS' | 'DOCUMENT_CACHE_MB' | 'PERSISTED_QUERY_MAX_BYTES' | 'API_KEY_FAILURES_PER_MINUTE' | 'AUDIT_FLUSH_INTERVAL_MS' | 'AUDIT_BATCH_SIZE' | 'AUDIT_RETENTION_DAYS' | 'TRUST_PROXY' | 'RATE_LIMIT_POINTS' | 'RATE_LIMIT_WINDOW_SECONDS' | 'CACHE_KEY_PREFIX' | 'CORS_ORIGINS'>> &
  // Without AUTH_MODE the gateway authenticates nobody (AUTH_MODE=none).
  Partial<AuthConfig> &
  // Unset limits take their defaults (src/limits/query-limits.ts).
  Partial<QueryLimitsConfig> &
  // Unset subscription settings take their defaults (src/subscriptions/ws-server.ts).
  Partial<SubscriptionConfig>;
