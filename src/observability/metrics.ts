import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The process's one Prometheus registry, served by GET /metrics. Other modules register their own metrics
 * on it (`new Gauge({ ..., registers: [metricsRegistry] })`); names start with `marketpulse_`.
 */
export const metricsRegistry = new Registry();
collectDefaultMetrics({ register: metricsRegistry });

// Request latencies span cache hits (a millisecond) to report queries near the statement timeout.
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export const httpRequests = new Counter({
  name: 'marketpulse_http_requests_total',
  help: 'HTTP requests answered, by GraphQL operation name (or route) and HTTP status',
  labelNames: ['operation', 'status'] as const,
  registers: [metricsRegistry],
});

export const httpRequestDuration = new Histogram({
  name: 'marketpulse_http_request_duration_seconds',
  help: 'Time from receiving a request to sending its answer, by GraphQL operation name (or route) and HTTP status',
  labelNames: ['operation', 'status'] as const,
  buckets: LATENCY_BUCKETS,
  registers: [metricsRegistry],
});

export const graphqlErrors = new Counter({
  name: 'marketpulse_graphql_errors_total',
  help: 'Errors in GraphQL responses, by extensions.code, and refused exports, by error.code',
  labelNames: ['code'] as const,
  registers: [metricsRegistry],
});

export const sqlDuration = new Histogram({
  name: 'marketpulse_sql_duration_seconds',
  help: 'Time PostgreSQL took per statement, by prepared-statement name (see README, Metrics)',
  labelNames: ['query'] as const,
  buckets: LATENCY_BUCKETS,
  registers: [metricsRegistry],
});

export const cacheHits = new Counter({
  name: 'marketpulse_cache_hits_total',
  help: 'GraphQL answers served from the response cache',
  registers: [metricsRegistry],
});

export const cacheMisses = new Counter({
  name: 'marketpulse_cache_misses_total',
  help: 'GraphQL answers computed because the response cache did not have them',
  registers: [metricsRegistry],
});

/** A connection pool's counts (the database handle's poolStats). */
export interface PoolStats {
  total: number;
  idle: number;
  waiting: number;
}

const pools = new Set<() => PoolStats>();

/** Reports a connection pool in `marketpulse_db_pool_connections` until the returned function is called. */
export function observePool(counts: () => PoolStats): () => void {
  pools.add(counts);
  return () => void pools.delete(counts);
}

new Gauge({
  name: 'marketpulse_db_pool_connections',
  help: 'PostgreSQL pool connections: in_use (checked out), idle, and waiting (requests queued for one)',
  labelNames: ['state'] as const,
  registers: [metricsRegistry],
  collect() {
    let inUse = 0;
    let idle = 0;
    let waiting = 0;
    for (const counts of pools) {
      const { total, idle: free, waiting: queued } = counts();
      inUse += total - free;
      idle += free;
      waiting += queued;
    }
    this.set({ state: 'in_use' }, inUse);
    this.set({ state: 'idle' }, idle);
    this.set({ state: 'waiting' }, waiting);
  },
});

/** Records one statement's duration; the database layer calls it through DatabaseOptions.onStatement. */
export function observeStatement(name: string, seconds: number): void {
  sqlDuration.observe({ query: name }, seconds);
}
