import type { FastifyInstance } from 'fastify';
import { metricsRegistry } from '../observability/metrics.js';

/**
 * GET /metrics: Prometheus text format, no auth (like the probes). Keep the port off the public internet or
 * filter the path at the load balancer.
 */
export function registerMetricsRoute(app: FastifyInstance) {
  app.get('/metrics', async (_request, reply) => {
    const body = await metricsRegistry.metrics();
    return reply
      .code(200)
      .header('content-type', metricsRegistry.contentType)
      .header('cache-control', 'no-store')
      .send(body);
  });
}
