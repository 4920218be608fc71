import type { FastifyInstance } from 'fastify';
import type { DatabaseHandle } from '../db/database-handle.js';
import { withTimeout } from '../db/timeouts.js';
import { findPendingMigrations, readMigrationNames } from '../db/migrator.js';
import type { ReplicaStatus } from '../db/read-replicas.js';
import type { ReportZoneCheck } from '../db/report-zone.js';

export type CacheStatus = 'up' | 'down' | 'memory';

export interface ReadinessOptions {
  database: DatabaseHandle;
  timeoutMs: number;
  /** The response cache's store: Redis up or down, or the in-process LRU. Without a cache, not reported. */
  cacheStatus?: () => CacheStatus;
  /** True once shutdown has begun: the load balancer must stop sending requests here. */
  stopping: () => boolean;
  /** Whether REPORT_TIMEZONE is the database's report zone; read again by every probe. */
  reportZone?: ReportZoneCheck | undefined;
  /** The read replicas, read by every probe: one that is down, paused or behind makes the gateway degraded, never unready. */
  replicas?: { status(timeoutMs: number): Promise<ReplicaStatus[]> } | undefined;
}

/**
 * GET /readyz: whether a load balancer should send this gateway traffic. 503 while shutting down, while
 * PostgreSQL does not answer within `timeoutMs`, while migrations are pending (the views may not match
 * the code), or while REPORT_TIMEZONE is not the database's report zone (with the reason). Redis is reported but never fails it: without Redis the gateway answers uncached
 * (`"status":"degraded"`, still 200). Nor do read replicas: one that is down, paused or behind is named with
 * the reason (`"status":"degraded"`, still 200), and reads go to the primary meanwhile. /healthz stays the cheap liveness answer.
 */
export function registerReadyRoute(app: FastifyInstance, options: ReadinessOptions) {
  let expected: Promise<string[]> | undefined;
  app.get('/readyz', async (request, reply) => {
    void reply.header('cache-control', 'no-store');
    if (options.stopping()) return reply.code(503).send({ status: 'stopping' });
    const cache = options.cacheStatus?.();
    const cacheField = cache === undefined ? {} : { cache };
    // Read alongside the primary; never rejects (a replica that does not answer is reported down).
    const replicaStatus = options.replicas?.status(options.timeoutMs);
    let pending: string[];
    try {
      expected ??= readMigrationNames();
      const names = await expected;
      await options.database.ping(options.timeoutMs);
      pending = await withTimeout(findPendingMigrations(options.database, names), options.timeoutMs, 'PostgreSQL');
    } catch (error) {
      request.log.warn({ err: error }, 'readiness check: database did not answer');
      return reply.code(503).send({ status: 'unavailable', database: 'down', ...cacheField });
    }
    if (pending.length > 0) {
      return reply
        .code(503)
        .send({ status: 'unavailable', database: 'up', migrations: 'pending', pending, ...cacheField });
    }
    if (options.reportZone) {
      let verdict;
      try {
        verdict = await withTimeout(options.reportZone.check(), options.timeoutMs, 'PostgreSQL');
      } catch (error) {
        request.log.warn({ err: error }, 'readiness check: database did not answer');
        return reply.code(503).send({ status: 'unavailable', database: 'down', ...cacheField });
      }
      if (verdict.state === 'mismatched') {
        const reportTimezone = {
          gateway: options.reportZone.expected,
          database: verdict.zone.rollups,
          sessions: verdict.zone.sessions,
        };
        return reply.code(503).send({
          status: 'unavailable',
          database: 'up',
          migrations: 'current',
          reportTimezone,
          reason: verdict.reason,
          ...cacheField,
        });
      }
    }
    const replicas = await replicaStatus;
    const replicaField = replicas === undefined ? {} : { replicas };
    const status = cache === 'down' || replicas?.some((replica) => replica.state !== 'up') ? 'degraded' : 'ready';
    return reply.code(200).send({ status, database: 'up', migrations: 'current', ...cacheField, ...replicaField });
  });
}
