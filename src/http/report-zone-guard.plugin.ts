import fp from 'fastify-plugin';
import type { ReportZoneCheck, ZoneVerdict } from '../db/report-zone.js';
import { ErrorCode } from '../errors/error-codes.js';
import { reportZoneUnavailable } from '../graphql/errors.js';
import { guardOf, type GuardedRoute } from './guarded-route.js';

export interface ReportZoneGuardOptions {
  reportZone: ReportZoneCheck;
  /** The routes refused while the zones differ (GraphQL operations, exports), each in its own error shape. */
  routes: readonly GuardedRoute[];
  /** What a 503 tells clients to wait. */
  retryAfterSeconds: number;
}

/**
 * Before authentication and the cache: a gateway in another zone than its database answers nothing, cached
 * answers and exports included, since its days are not the database's. The verdict is known on almost every
 * request and read without a promise; only an unknown one waits for a read.
 */
export const reportZoneGuardPlugin = fp<ReportZoneGuardOptions>(
  (app, { reportZone, routes, retryAfterSeconds }, done) => {
    app.addHook('onRequest', (request, reply, next) => {
      const route = guardOf(routes, request);
      if (!route) return next();
      const answer = (verdict: ZoneVerdict) => {
        if (verdict.state !== 'mismatched') return next();
        const refused = reply.header('cache-control', 'no-store').header('retry-after', String(retryAfterSeconds));
        route.refuse(refused, 503, ErrorCode.SERVICE_UNAVAILABLE, reportZoneUnavailable(verdict.reason).message);
      };
      const verdict = reportZone.current;
      if (verdict.state !== 'unknown') answer(verdict);
      else void reportZone.known().then(answer);
    });
    done();
  },
  { name: 'marketpulse-report-zone-guard' },
);
