import type { FastifyPluginCallback } from 'fastify';
import type { DatabaseHandle } from '../db/database-handle.js';
import type { ReadReplicas } from '../db/read-replicas.js';
import type { ReportZoneCheck } from '../db/report-zone.js';
import { observePool, observeReplicas } from '../observability/metrics.js';
import { registerHealthRoute } from './health.route.js';
import { registerMetricsRoute } from './metrics.route.js';
import { registerReadyRoute, type CacheStatus } from './ready.route.js';

export interface ProbesOptions {
  database: DatabaseHandle;
  /** How long the database gets to answer a probe. */
  timeoutMs: number;
  cacheStatus?: (() => CacheStatus) | undefined;
  /** True once shutdown has begun: /readyz answers 503. */
  stopping: () => boolean;
  reportZone?: ReportZoneCheck | undefined;
  /** Read replicas, reported in /readyz and /metrics. */
  replicas?: ReadReplicas | undefined;
}

/**
 * What load balancers and Prometheus read, without authentication: GET /healthz (liveness), GET /readyz
 * (whether to send traffic here) and GET /metrics, with the database pool's numbers. Encapsulated: its routes
 * need none of the hooks of the GraphQL route, and it adds none.
 */
export const probesPlugin: FastifyPluginCallback<ProbesOptions> = (app, options, done) => {
  registerHealthRoute(app, options.database, options.timeoutMs);
  registerReadyRoute(app, {
    database: options.database,
    timeoutMs: options.timeoutMs,
    cacheStatus: options.cacheStatus,
    stopping: options.stopping,
    reportZone: options.reportZone,
    replicas: options.replicas,
  });
  registerMetricsRoute(app);
  const { replicas } = options;
  if (replicas) {
    const unobserve = observeReplicas(() => replicas.status(options.timeoutMs));
    app.addHook('onClose', async () => unobserve());
  }
  const { database } = options;
  if (database.poolStats) {
    const unobserve = observePool(() => database.poolStats!());
    app.addHook('onClose', async () => unobserve());
  }
  done();
};
