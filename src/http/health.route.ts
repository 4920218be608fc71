import type { FastifyInstance } from 'fastify';
import type { DatabaseHandle } from '../db/database-handle.js';

/**
 * GET /healthz: plain JSON for load balancers, no GraphQL and no auth. 503 while PostgreSQL does not
 * answer within `timeoutMs`; the process keeps serving either way.
 */
export function registerHealthRoute(app: FastifyInstance, database: DatabaseHandle, timeoutMs: number) {
  app.get('/healthz', async (request, reply) => {
    try {
      await database.ping(timeoutMs);
      return reply.code(200).header('cache-control', 'no-store').send({ status: 'ok', database: 'up' });
    } catch (error) {
      request.log.warn({ err: error }, 'health check: database did not answer');
      return reply.code(503).header('cache-control', 'no-store').send({ status: 'unavailable', database: 'down' });
    }
  });
}
