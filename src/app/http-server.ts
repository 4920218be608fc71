import fastifyCors from '@fastify/cors';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { GraphQLSchema } from 'graphql';
import type { Redis } from 'ioredis';
import type { Authenticate } from '../auth/authenticate.js';
import { ANONYMOUS, type Principal } from '../auth/principal.js';
import type { AuditWriter } from '../audit/audit-writer.js';
import type { ResponseCaching } from '../cache/response-cache.js';
import type { Kysely } from 'kysely';
import type { DatabaseHandle } from '../db/database-handle.js';
import type { Database } from '../db/database.js';
import type { ReadReplicas } from '../db/read-replicas.js';
import { servesSandbox } from '../graphql/introspection.js';
import type { ReportZoneCheck } from '../db/report-zone.js';
import { exportRouteGuard } from '../exports/export.errors.js';
import { exportRoutes } from '../exports/export.route.js';
import { authPlugin } from '../http/auth.plugin.js';
import { cacheHitShortcutPlugin } from '../http/cache-hit-shortcut.plugin.js';
import { graphqlRouteGuard } from '../http/early-answer.js';
import { httpLimitsPlugin } from '../http/http-limits.plugin.js';
import { probesPlugin } from '../http/probes.plugin.js';
import { protocolErrorsPlugin } from '../http/protocol-errors.js';
import { rateLimitPlugin } from '../http/rate-limit.plugin.js';
import type { CacheStatus } from '../http/ready.route.js';
import { reportZoneGuardPlugin } from '../http/report-zone-guard.plugin.js';
import { requestLogPlugin } from '../http/request-log.plugin.js';
import type { QueryLimits } from '../limits/query-limits.js';
import { RateBudget } from '../limits/rate-limit.js';
import { requestIdFrom } from '../observability/request-context.js';
import { GRAPHQL_PATH, RETRY_AFTER_SECONDS, type GatewayConfig } from './server-config.js';

/** The Fastify server itself: body limit, read timeouts, request ids, the request log's own line, proxies. */
export function createHttpServer(
  config: GatewayConfig['server'],
  limits: QueryLimits,
  logger: FastifyBaseLogger,
): FastifyInstance {
  const readTimeoutMs = config.requestReadTimeoutMs;
  return Fastify({
    loggerInstance: logger,
    bodyLimit: limits.maxBodyBytes,
    // A client gets this long to send a whole request, headers and body: one dripping a byte at a time is cut
    // (Node answers 408 and closes). Node stops timing a request once it is read, so a slow download of the
    // answer is not cut, and a WebSocket leaves HTTP behind when it upgrades. Node checks every interval.
    requestTimeout: readTimeoutMs,
    http: {
      headersTimeout: readTimeoutMs,
      connectionsCheckingInterval: Math.min(1_000, Math.max(100, Math.floor(readTimeoutMs / 4))),
    },
    // Clients may send their own request id (x-request-id); otherwise one is made (request-context.ts).
    requestIdHeader: false,
    genReqId: (request) => requestIdFrom(request.headers['x-request-id']),
    // One line per request, written by request-log.plugin.ts with what Fastify's two lines lack.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'requestId' }),
    // Behind a load balancer, the client address (audit trail, rate limits) comes from X-Forwarded-For.
    trustProxy: config.trustProxy,
  });
}

/**
 * Budgets are per principal: an API key, a JWT subject, or the client address when nobody is authenticated.
 * One budget for HTTP requests and subscriptions alike, so a principal cannot spend twice by using both; the
 * per-principal cap on subscriptions counts by the same key.
 */
export const rateKeyOf = (principal: Principal, clientIp: string) =>
  principal === ANONYMOUS ? `ip:${clientIp}` : principal.id;

/** The rate budget of RATE_LIMIT_POINTS per window, shared through Redis when there is one; none at 0 points. */
export function createRateBudget(
  config: Pick<GatewayConfig, 'limits' | 'cache'>,
  redis: Redis | undefined,
): RateBudget | undefined {
  const { points, windowSeconds } = config.limits.rate;
  if (points <= 0) return undefined;
  return new RateBudget({ points, windowSeconds, ...(redis ? { redis } : {}), keyPrefix: config.cache.keyPrefix });
}

export interface HttpPluginOptions {
  config: GatewayConfig;
  database: DatabaseHandle;
  limits: QueryLimits;
  authenticate: Authenticate;
  rateBudget: RateBudget | undefined;
  caching: ResponseCaching | undefined;
  cacheStatus: (() => CacheStatus) | undefined;
  reportZone: ReportZoneCheck | undefined;
  replicas: ReadReplicas | undefined;
  /** Where report reads go: a replica that has the current data, or the primary. */
  reads: Kysely<Database>;
  /** True once shutdown has begun. */
  stopping: () => boolean;
  schema: GraphQLSchema;
  audit: AuditWriter;
}

/**
 * Every HTTP concern, each a plugin, in the order its hooks must run: the request log first (request ids, one
 * line per request), the request rules of the GraphQL route, protocol errors, CORS (before the hooks that
 * answer early, so that their answers still reach the page that asked), the report-zone guard, authentication,
 * the rate budget (after authentication: a request turned away with 401 spends nobody's budget), the cache-hit
 * shortcut, the probes, and the export routes, which all of those apply to.
 */
export async function registerHttpPlugins(app: FastifyInstance, options: HttpPluginOptions): Promise<void> {
  const { config, database, limits, reportZone, caching } = options;
  // Authentication and rate budgets guard GraphQL operations and exports, each refused in its own error shape.
  const guarded = [graphqlRouteGuard(GRAPHQL_PATH), exportRouteGuard];
  await app.register(requestLogPlugin, { graphqlPath: GRAPHQL_PATH });
  if (servesSandbox(config.server)) {
    // Whoever opens the gateway's address in a browser lands on Sandbox, which must sit on the GraphQL URL itself:
    // it sends its operations to the page's own address.
    app.get('/', (_request, reply) => reply.redirect(GRAPHQL_PATH));
  }
  // While shutting down, keep-alive connections are closed after their current answer, so that closing the
  // server waits for in-flight requests and not for idle sockets.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (options.stopping()) void reply.header('connection', 'close');
    done(null, payload);
  });
  await app.register(httpLimitsPlugin, { graphqlPath: GRAPHQL_PATH, limits });
  await app.register(protocolErrorsPlugin, { graphqlPath: GRAPHQL_PATH, limits });
  // Browsers on other origins may call the gateway only from the allow list; without one, none may.
  await app.register(fastifyCors, {
    origin: config.server.corsOrigins,
    methods: ['GET', 'POST'],
    allowedHeaders: [
      'content-type',
      'authorization',
      'x-api-key',
      'x-request-id',
      'apollo-require-preflight',
      'x-apollo-operation-name',
    ],
    exposedHeaders: [
      'x-request-id',
      'x-cache',
      'x-query-cost',
      'ratelimit-limit',
      'ratelimit-remaining',
      'ratelimit-reset',
      'ratelimit-policy',
      'retry-after',
      'content-disposition',
    ],
    maxAge: 600,
  });
  if (reportZone)
    await app.register(reportZoneGuardPlugin, { reportZone, routes: guarded, retryAfterSeconds: RETRY_AFTER_SECONDS });
  await app.register(authPlugin, {
    authenticate: options.authenticate,
    routes: guarded,
    required: config.auth.mode === 'required',
  });
  await app.register(rateLimitPlugin, {
    budget: options.rateBudget,
    routes: guarded,
    keyOf: (request) => rateKeyOf(app.principalOf(request), request.ip),
  });
  // Cache hits sent by POST are answered before Apollo runs; everything else goes on to it.
  if (caching && caching.cache.ttlSeconds > 0)
    await app.register(cacheHitShortcutPlugin, { caching, graphqlPath: GRAPHQL_PATH });
  await app.register(probesPlugin, {
    database,
    timeoutMs: config.server.healthTimeoutMs,
    cacheStatus: options.cacheStatus,
    stopping: options.stopping,
    reportZone,
    replicas: options.replicas,
  });
  // Reads as GraphQL queries do.
  await app.register(exportRoutes, {
    schema: options.schema,
    db: options.reads,
    audit: options.audit,
    principalOf: (request) => app.principalOf(request),
    ...(options.rateBudget ? { chargeCost: (request, points) => request.chargeCost(points) } : {}),
    reportTimezone: config.database.reportTimezone,
    ...(reportZone ? { onReportZoneError: () => void reportZone.check().catch(() => undefined) } : {}),
  });
}
