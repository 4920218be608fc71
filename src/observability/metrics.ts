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

export const readStatements = new Counter({
  name: 'marketpulse_db_read_statements_total',
  help: 'Statements of report reads, by where they ran: target primary or replica (and which replica, host:port/database)',
  labelNames: ['target', 'replica'] as const,
  registers: [metricsRegistry],
});

export const replicaFallbacks = new Counter({
  name: 'marketpulse_db_replica_fallbacks_total',
  help: 'Statements a read replica failed that ran again on the primary, by replica and reason (conflict: a recovery conflict; unreachable: no session)',
  labelNames: ['replica', 'reason'] as const,
  registers: [metricsRegistry],
});

/** Counts a report read's statement where it ran (ReadReplicas' onRead). */
export function observeRead(target: ReadTarget, replica?: string): void {
  readStatements.inc({ target, replica: replica ?? '' });
}

/** Where a report read's statement ran (src/db/read-replicas.ts). */
type ReadTarget = 'primary' | 'replica';

/** What a scrape reads of each replica (ReadReplicas.status): the metrics need no more of it. */
interface ReplicaStatus {
  name: string;
  state: string;
  lagBytes?: number;
  lagSeconds?: number;
}

let replicaStatus: (() => Promise<ReplicaStatus[]>) | undefined;
let scraped: Promise<ReplicaStatus[]> | undefined;

/** Reports the read replicas' state and lag, read on every scrape, until the returned function is called. */
export function observeReplicas(status: () => Promise<ReplicaStatus[]>): () => void {
  replicaStatus = status;
  return () => {
    if (replicaStatus === status) replicaStatus = undefined;
  };
}

// The three gauges of one scrape share one reading of the replicas.
function replicasOfThisScrape(): Promise<ReplicaStatus[]> {
  if (!replicaStatus) return Promise.resolve([]);
  scraped ??= replicaStatus().finally(() => setImmediate(() => (scraped = undefined)));
  return scraped;
}

new Gauge({
  name: 'marketpulse_db_replica_up',
  help: 'Whether a read replica answers as a streaming replica (1) or not (0)',
  labelNames: ['replica'] as const,
  registers: [metricsRegistry],
  async collect() {
    this.reset();
    for (const replica of await replicasOfThisScrape())
      this.set({ replica: replica.name }, replica.state === 'down' ? 0 : 1);
  },
});

new Gauge({
  name: 'marketpulse_db_replica_lag_bytes',
  help: "WAL a read replica has not replayed yet: the primary's pg_current_wal_lsn() minus its pg_last_wal_replay_lsn()",
  labelNames: ['replica'] as const,
  registers: [metricsRegistry],
  async collect() {
    this.reset();
    for (const replica of await replicasOfThisScrape())
      if (replica.lagBytes !== undefined) this.set({ replica: replica.name }, replica.lagBytes);
  },
});

new Gauge({
  name: 'marketpulse_db_replica_lag_seconds',
  help: 'Seconds since the last transaction a read replica replayed committed on the primary; 0 when it has replayed all it received',
  labelNames: ['replica'] as const,
  registers: [metricsRegistry],
  async collect() {
    this.reset();
    for (const replica of await replicasOfThisScrape())
      if (replica.lagSeconds !== undefined) this.set({ replica: replica.name }, replica.lagSeconds);
  },
});
