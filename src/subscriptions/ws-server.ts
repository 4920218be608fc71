import { ErrorCode } from '../errors/error-codes.js';
import { createHash } from 'node:crypto';
import fastifyWebsocket from '@fastify/websocket';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { GraphQLError, execute, print, type GraphQLFormattedError, type GraphQLSchema } from 'graphql';
import { handleProtocols } from 'graphql-ws';
import { makeHandler, type Extra } from 'graphql-ws/use/@fastify/websocket';
import type { WebSocket } from 'ws';
import { TooManyFailedLookups } from '../auth/failed-key-lookups.js';
import { AuthenticationError, credentialsFrom, type Authenticate } from '../auth/authenticate.js';
import type { Principal } from '../auth/principal.js';
import { cacheScope } from '../cache/cache-scope.js';
import type { GraphQLContext } from '../graphql/context.js';
import { sendGraphQLError } from '../http/early-answer.js';
import { internalError, reportZoneUnavailable } from '../graphql/errors.js';
import { withoutSuggestion } from '../graphql/introspection.js';
import type { QueryLimits } from '../limits/query-limits.js';
import type { RateBudget } from '../limits/rate-limit.js';
import { stableJson } from '../graphql/stable-json.js';
import type { AuditWriter } from '../audit/audit-writer.js';
import type { SeriesSpan } from '../modules/revenue/revenue.cost.js';
import { requestIdFrom } from '../observability/request-context.js';
import type { ChangeFeed } from '../changes/change-feed.js';
import { LiveQueryRegistry } from './live-query-registry.js';
import type { LiveSubscription } from './live-subscription.js';
import { socketOriginAllowed } from './socket-origin.js';
import { auditDeliveries } from './subscription-audit.js';
import { createSubscriptionCheck, refusal } from './subscription-checks.js';
import type { SubscriptionConfig } from '../config/subscriptions.js';
import { SubscriptionSlots } from './subscription-slots.js';
import { SubscriptionStats } from './subscription-stats.js';
import {
  closeUnauthenticated,
  SocketConnections,
  TOO_MANY_REQUESTS_CLOSE,
  tokenExpiry,
  type Connection,
} from './socket-connections.js';
import { createSubscriptionCharges } from './subscription-charges.js';

/** What onSubscribe answers for a subscription completed while it was set up; graphql-ws sends nothing for it. */
const COMPLETED_BEFORE_STARTING = refusal(ErrorCode.BAD_REQUEST, 'The subscription was completed before it started');

/** How long a closing server waits for clients to answer its close frame before cutting their sockets. */
const CLOSE_GRACE_MS = 2_000;

export interface SubscriptionServerOptions {
  schema: GraphQLSchema;
  authenticate: Authenticate;
  limits: QueryLimits;
  config: SubscriptionConfig;
  changes: ChangeFeed;
  /** A new request context, with its own loaders, for one computation of a live query. */
  newContext: (principal: Principal) => GraphQLContext;
  logger: FastifyBaseLogger;
  production: boolean;
  /** The error formatting of HTTP responses (limit codes, masking), applied to errors sent over sockets too. */
  formatError: (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError;
  /** Whether a caller sees "Did you mean ...?" in its errors: only one who may introspect does. */
  showsSuggestions: (principal: Principal) => boolean;
  /**
   * Whose subscriptions (SUBSCRIPTIONS_MAX_PER_PRINCIPAL) and rate budget a caller's are: its principal, or the
   * client address of the upgrade request when nobody is authenticated.
   */
  principalKey: (principal: Principal, clientIp: string) => string;
  /** The rate budget HTTP requests draw on; without it, subscriptions are not charged (rate limiting is off). */
  rateLimit?: { budget: RateBudget };
  /** The origins whose browser pages may open sockets besides the gateway's own (CORS_ORIGINS). */
  corsOrigins: readonly string[];
  /** The data's bounds, for pricing revenue series with an open end (see createCostCheck). */
  seriesSpan?: SeriesSpan;
  /** The audit trail's writer, the one HTTP requests record in. */
  audit: Pick<AuditWriter, 'record'>;
  /** Why reports are refused now (a report zone other than the database's), or undefined while they are served. */
  refusal?: () => string | undefined;
}

export interface SubscriptionServer {
  stats: SubscriptionStats;
  registry: LiveQueryRegistry;
}

interface LiveExecutionContext {
  live: LiveSubscription;
}

/**
 * GraphQL subscriptions over WebSocket (graphql-transport-ws, through graphql-ws's @fastify/websocket adapter) on
 * the GraphQL path. A browser page may open a socket only from the gateway's own origin or CORS_ORIGINS. The
 * socket authenticates once, when it initialises, with the same credentials as HTTP requests, and keeps that
 * principal (checked again every so often); every subscription takes a place under the caps as soon as it
 * arrives, passes the same limits as a query (depth, aliases, directives, tokens, cost), is charged to the
 * caller's rate budget before any database work, and its first result is computed with the caller's role, so a
 * field beyond it refuses the subscription. Subscriptions then follow a live query of the registry, which
 * recomputes it after changes in the data; each push is charged to the subscriber's budget, and every result
 * holding customer-level data is audited as it is sent to each subscriber.
 *
 * Registers @fastify/websocket on `app` and returns the handler to put on the GET route of the path as
 * `wsHandler`, with the server's numbers.
 */
export async function registerSubscriptionServer(
  app: FastifyInstance,
  options: SubscriptionServerOptions,
): Promise<SubscriptionServer & { wsHandler: (socket: WebSocket, request: Extra['request']) => void | Promise<void> }> {
  const { schema, authenticate, limits, config, logger } = options;
  const stats = new SubscriptionStats();
  const registry = new LiveQueryRegistry({
    debounceMs: config.debounceMs,
    maxWaitMs: config.maxWaitMs,
    stats,
    logger,
  });
  const stopHearing = options.changes.onChange(() => registry.changed());
  const connections = new SocketConnections({
    authenticate,
    idleTimeoutMs: config.idleTimeoutMs,
    reauthIntervalMs: config.reauthIntervalMs,
    logger,
  });
  const checkSubscription = createSubscriptionCheck(schema, limits, options.seriesSpan);
  const slots = new SubscriptionSlots(
    {
      perConnection: config.maxPerConnection,
      perPrincipal: config.maxPerPrincipal,
      perInstance: config.maxPerInstance,
    },
    stats,
  );
  const allowedOrigins = new Set(options.corsOrigins);
  const reportsRefused = (): GraphQLError | undefined => {
    const reason = options.refusal?.();
    return reason === undefined ? undefined : reportZoneUnavailable(reason);
  };

  const { overBudget, chargePushes } = createSubscriptionCharges(options.rateLimit?.budget);

  const formatForSocket = (error: GraphQLError, principal: Principal | undefined): GraphQLFormattedError => {
    // The gateway's own formatting, as for queries; the `http` extension (status, headers) has no meaning here.
    const formatted = options.formatError(error.toJSON(), error);
    const { http: _http, ...extensions } = formatted.extensions ?? {};
    const shown = principal !== undefined && options.showsSuggestions(principal);
    return { ...(shown ? formatted : withoutSuggestion(formatted)), extensions };
  };

  // graphql-ws wraps an error a subscription's iterator throws (a push it refused) in a GraphQLError of its
  // own, without the extensions: the original one is what the client must see.
  const unwrapped = (error: GraphQLError): GraphQLError =>
    error.extensions.code === undefined && error.originalError instanceof GraphQLError ? error.originalError : error;

  const graphqlWs = makeHandler<Record<string, unknown> | undefined, Record<PropertyKey, never>>(
    {
      schema,
      isProd: options.production,
      connectionInitWaitTimeout: config.initTimeoutMs,

      async onConnect(context) {
        const credentials = credentialsFrom(context.extra.request.headers, context.connectionParams ?? {});
        try {
          // With the upgrade's address, so that a socket's made-up API keys count against it as over HTTP.
          const principal = await authenticate(credentials, context.extra.request.ip);
          const principalKey = options.principalKey(principal, context.extra.request.ip);
          // Opening a socket costs 1 point, like any request arriving over HTTP: a client that opens and closes
          // sockets in a loop (each one authenticated, an API key being a database lookup) spends its budget.
          const refusedByBudget = await overBudget(principalKey, 1);
          if (refusedByBudget) {
            context.extra.socket.close(TOO_MANY_REQUESTS_CLOSE, refusedByBudget.message.slice(0, 120));
            return false;
          }
          const connection: Connection = {
            principal,
            principalKey,
            credentials,
            expiresAt: tokenExpiry(credentials),
            subscriptions: 0,
            idleTimer: undefined,
          };
          connections.add(context, connection);
          return true;
        } catch (error) {
          if (error instanceof TooManyFailedLookups) {
            context.extra.socket.close(TOO_MANY_REQUESTS_CLOSE, error.message.slice(0, 120));
            return false;
          }
          if (!(error instanceof AuthenticationError)) throw error;
          // 4401 rather than graphql-ws's 4403 for a refused connection: clients do not retry it.
          closeUnauthenticated(context, error);
          return false;
        }
      },

      async onSubscribe(context, id, payload) {
        const connection = connections.get(context);
        if (!connection) return [refusal(ErrorCode.UNAUTHENTICATED, 'The connection is not authenticated')];
        const refuse = (errors: readonly GraphQLError[]) => {
          stats.refused += 1;
          return [...errors];
        };
        // The socket's principal stands (the periodic check closes it when an API key is revoked); only a
        // token's expiry is checked here, which needs no lookup.
        if (connection.expiresAt !== undefined && connection.expiresAt <= Date.now()) {
          const expired = new AuthenticationError('The bearer token has expired');
          closeUnauthenticated(context, expired);
          return refuse([refusal(ErrorCode.UNAUTHENTICATED, expired.message)]);
        }
        // Taken before anything is awaited, so the caps bound the subscriptions being set up as well as the
        // ones set up, and released on every way out but the one handing the subscription over.
        const refusedReports = reportsRefused();
        if (refusedReports) return refuse([refusedReports]);
        const slot = slots.take(connection, connection.principalKey);
        if (slot instanceof GraphQLError) return refuse([slot]);
        clearTimeout(connection.idleTimer);
        const release = () => {
          slot.release();
          if (connections.has(context) && context.extra.socket.readyState === context.extra.socket.OPEN)
            connections.armIdleTimer(context, connection);
        };
        let handedOver = false;
        try {
          const request = context.extra.request;
          // Like a request over HTTP: 1 point for arriving, whether or not it is valid, and the rest of its cost
          // once that is known, both before the database is asked anything.
          const refusedOnArrival = await overBudget(connection.principalKey, 1);
          if (refusedOnArrival) return refuse([refusedOnArrival]);
          // Completed by the client (or its socket closed) meanwhile: nothing more to check or compute, and
          // graphql-ws sends nothing for it.
          const completed = () => !(id in context.subscriptions);
          if (completed()) return [COMPLETED_BEFORE_STARTING];
          const prepared = await checkSubscription(payload);
          if (Array.isArray(prepared)) return refuse(prepared);
          const refusedByCost = await overBudget(connection.principalKey, prepared.cost);
          if (refusedByCost) return refuse([refusedByCost]);
          if (completed()) return [COMPLETED_BEFORE_STARTING];

          const { document, variables } = prepared;
          // Answers differ only by role, so callers of one role share a live query, like they share cached answers.
          const newContext = () => options.newContext(connection.principal);
          const scope = cacheScope(connection.principal);
          const key = createHash('sha256')
            .update(stableJson([scope, payload.operationName ?? null, print(document), variables]))
            .digest('base64');
          const joined = await registry.join(
            {
              key,
              execute: async () => {
                // Recomputed after a re-zone to another zone than ours: an error for every subscriber, not figures.
                const refused = reportsRefused();
                if (refused) return { result: { errors: [refused] } };
                const contextValue = newContext();
                const result = await execute({
                  schema,
                  document,
                  variableValues: variables,
                  operationName: payload.operationName,
                  contextValue,
                });
                // Gathered once per execution, however many subscribers the live query has; each subscriber's
                // audit entry takes the customers from here when the result reaches its socket.
                const access = contextValue.customerAccess;
                return { result, ...(access.touched ? { customerIds: access.customerIds } : {}) };
              },
            },
            auditDeliveries(options.audit, {
              principal: connection.principal,
              clientIp: request.ip ?? null,
              // The upgrade request's id (its x-request-id when sane, as on HTTP) names the socket; the
              // subscription id, held to the same rule, tells its subscriptions apart.
              requestId: `${request.id}#${requestIdFrom(id)}`,
              operationName: prepared.operationName,
            }),
            chargePushes(connection.principalKey, prepared.cost),
          );
          if ('errors' in joined) return refuse(joined.errors);
          joined.subscription.whenEnded(release);
          handedOver = true;
          const live: LiveExecutionContext = { live: joined.subscription };
          return {
            schema,
            document,
            variableValues: variables,
            operationName: payload.operationName,
            contextValue: live,
          };
        } catch (error) {
          // Refused rather than thrown: graphql-ws would close the whole socket (4500) for one subscription.
          logger.error({ err: error }, 'a subscription could not be set up');
          return refuse([internalError()]);
        } finally {
          if (!handedOver) release();
        }
      },

      // The subscription was set up in onSubscribe; graphql-ws drains its results into the socket.
      subscribe: (args) => (args.contextValue as LiveExecutionContext).live,

      onError: (context, _id, _payload, errors) => {
        const principal = connections.get(context)?.principal;
        return errors.map((error) => formatForSocket(unwrapped(error), principal));
      },

      onClose(context) {
        connections.remove(context);
      },
    },
    config.keepaliveMs,
  );

  const sockets = new Set<WebSocket>();
  await app.register(fastifyWebsocket, {
    options: {
      // A subscribe message is held to the limit of a request body; ws closes the socket with 1009 past it.
      maxPayload: limits.maxBodyBytes,
      handleProtocols: (protocols) => handleProtocols(protocols) || false,
    },
    preClose(done) {
      // Going away (1001): graphql-ws clients reconnect, to another instance behind the same address.
      stopHearing();
      connections.close();
      for (const socket of sockets) socket.close(1001, 'Server is shutting down');
      const cut = setTimeout(() => {
        for (const socket of sockets) socket.terminate();
      }, CLOSE_GRACE_MS);
      let finished = false;
      const finish = () => {
        if (finished) return;
        finished = true;
        clearTimeout(cut);
        registry.close();
        done();
      };
      if (sockets.size === 0) finish();
      else {
        const check = () => {
          if (sockets.size === 0) finish();
        };
        for (const socket of sockets) socket.once('close', () => setImmediate(check));
      }
    },
  });

  // Before the upgrade: a page from another origin is answered 403 and never gets a socket.
  app.addHook('onRequest', async (request, reply) => {
    if (!request.ws || socketOriginAllowed(request, allowedOrigins)) return;
    return sendGraphQLError(
      reply.header('cache-control', 'no-store'),
      403,
      ErrorCode.FORBIDDEN,
      "WebSocket connections are accepted from the gateway's own origin and from CORS_ORIGINS only",
    );
  });

  function wsHandler(this: FastifyInstance, socket: WebSocket, request: Extra['request']) {
    stats.openSockets += 1;
    sockets.add(socket);
    socket.once('close', () => {
      stats.openSockets -= 1;
      sockets.delete(socket);
    });
    return graphqlWs.call(this, socket, request);
  }

  return { stats, registry, wsHandler };
}
