import { createHash } from 'node:crypto';
import fastifyWebsocket from '@fastify/websocket';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { execute, print, type GraphQLError, type GraphQLFormattedError, type GraphQLSchema } from 'graphql';
import type { Kysely } from 'kysely';
import { CloseCode, handleProtocols, type Context } from 'graphql-ws';
import { makeHandler, type Extra } from 'graphql-ws/use/@fastify/websocket';
import type { WebSocket } from 'ws';
import { AuthenticationError, credentialsFrom, type Authenticate, type Credentials } from '../auth/authenticate.js';
import type { Principal } from '../auth/principal.js';
import { cacheScope } from '../cache/cache-scope.js';
import { createContext } from '../graphql/context.js';
import type { Database } from '../db/database.js';
import type { QueryLimits } from '../graphql/limits/query-limits.js';
import { rateLimitedError, type RateBudget } from '../graphql/limits/rate-limit.js';
import type { AuditWriter } from '../modules/audit/audit-writer.js';
import type { CursorCodec } from '../modules/shared/cursor.js';
import { requestIdFrom } from '../observability/request-context.js';
import { LiveQueryRegistry } from './live-query-registry.js';
import type { LiveSubscription } from './live-subscription.js';
import { stableJson } from './stable-json.js';
import { auditDeliveries } from './subscription-audit.js';
import { createSubscriptionCheck, refusal, SubscriptionErrorCode } from './subscription-checks.js';
import type { SubscriptionConfig } from './subscription-config.js';
import { SubscriptionStats } from './subscription-stats.js';

/** Where changes to the data are heard (src/cache/change-listener.ts). */
export interface ChangeFeed {
  onChange(listener: () => void): () => void;
}

/** How long a closing server waits for clients to answer its close frame before cutting their sockets. */
const CLOSE_GRACE_MS = 2_000;

export interface SubscriptionServerOptions {
  schema: GraphQLSchema;
  db: Kysely<Database>;
  cursors: CursorCodec;
  authenticate: Authenticate;
  limits: QueryLimits;
  config: SubscriptionConfig;
  changes: ChangeFeed;
  logger: FastifyBaseLogger;
  production: boolean;
  /** The error formatting of HTTP responses (limit codes, masking), applied to errors sent over sockets too. */
  formatError: (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError;
  /**
   * The rate budget HTTP requests draw on, and whose budget a caller spends (`clientIp`: of the upgrade
   * request); without it, subscriptions are not charged (rate limiting is off).
   */
  rateLimit?: { budget: RateBudget; keyOf: (principal: Principal, clientIp: string) => string };
  /** The audit trail's writer, the one HTTP requests record in. */
  audit: Pick<AuditWriter, 'record'>;
}

export interface SubscriptionServer {
  stats: SubscriptionStats;
  registry: LiveQueryRegistry;
}

/** One open, initialised socket: who it is and what it follows. */
interface Connection {
  principal: Principal;
  /** As sent when the socket initialised: checked again for every subscription and every so often. */
  credentials: Credentials;
  /** Subscriptions held or being set up. */
  subscriptions: number;
  idleTimer: NodeJS.Timeout | undefined;
}

type SocketContext = Context<Record<string, unknown> | undefined, Extra>;

interface LiveExecutionContext {
  live: LiveSubscription;
}

/**
 * GraphQL subscriptions over WebSocket (graphql-transport-ws, through graphql-ws's @fastify/websocket adapter) on
 * the GraphQL path. The socket authenticates once, when it initialises, with the same credentials as HTTP
 * requests; every subscription passes the same limits as a query (depth, aliases, directives, tokens, cost), is
 * charged to the caller's rate budget, and its first result is computed with the caller's role, so a field beyond
 * it refuses the subscription. Subscriptions then follow a live query of the registry, which recomputes it after
 * changes in the data; every result holding customer-level data is audited as it is sent to each subscriber.
 *
 * Registers @fastify/websocket on `app` and returns the handler to put on the GET route of the path as
 * `wsHandler`, with the server's numbers.
 */
export async function registerSubscriptionServer(
  app: FastifyInstance,
  options: SubscriptionServerOptions,
): Promise<SubscriptionServer & { wsHandler: (socket: WebSocket, request: Extra['request']) => void }> {
  const { schema, db, cursors, authenticate, limits, config, logger } = options;
  const stats = new SubscriptionStats();
  const registry = new LiveQueryRegistry({
    debounceMs: config.SUBSCRIPTION_DEBOUNCE_MS,
    maxWaitMs: config.SUBSCRIPTION_MAX_WAIT_MS,
    stats,
    logger,
  });
  const stopHearing = options.changes.onChange(() => registry.changed());
  const connections = new Map<SocketContext, Connection>();
  const checkSubscription = createSubscriptionCheck(schema, limits);

  // Each subscribe message is charged before anything runs: a subscription executes (or joins) a live query,
  // so subscribing and unsubscribing in a loop would otherwise be free executions. Pushes are not charged.
  const overBudget = async (principal: Principal, clientIp: string, points: number): Promise<GraphQLError | undefined> => {
    if (!options.rateLimit) return undefined;
    const state = await options.rateLimit.budget.charge(options.rateLimit.keyOf(principal, clientIp), points);
    return state.limited ? rateLimitedError(state) : undefined;
  };

  const formatForSocket = (error: GraphQLError): GraphQLFormattedError => {
    // The gateway's own formatting, as for queries; the `http` extension (status, headers) has no meaning here.
    const formatted = options.formatError(error.toJSON(), error);
    const { http: _http, ...extensions } = formatted.extensions ?? {};
    return { ...formatted, extensions };
  };

  // graphql-ws closes refused connections with 4403, which its clients do not retry; 4429 says to come back later.
  const TOO_MANY_REQUESTS_CLOSE = 4429;

  const closeUnauthenticated = (context: SocketContext, error: AuthenticationError) => {
    context.extra.socket.close(CloseCode.Unauthorized, error.message.slice(0, 120));
  };

  // Credentials are checked again every so often, so that a socket does not outlive its token or API key. Sockets
  // that share credentials share the check.
  const reauthenticate = async () => {
    const byCredentials = new Map<string, { credentials: Credentials; contexts: SocketContext[] }>();
    for (const [context, { credentials }] of connections) {
      const key = JSON.stringify([credentials.authorization ?? null, credentials.apiKey ?? null]);
      const group = byCredentials.get(key);
      if (group) group.contexts.push(context);
      else byCredentials.set(key, { credentials, contexts: [context] });
    }
    for (const { credentials, contexts } of byCredentials.values()) {
      try {
        await authenticate(credentials);
      } catch (error) {
        if (!(error instanceof AuthenticationError)) {
          logger.warn({ err: error }, 'could not check the credentials of open sockets');
          continue;
        }
        for (const context of contexts) closeUnauthenticated(context, error);
      }
    }
  };
  const reauthentication =
    config.SUBSCRIPTION_REAUTH_INTERVAL_MS > 0
      ? setInterval(() => void reauthenticate(), config.SUBSCRIPTION_REAUTH_INTERVAL_MS).unref()
      : undefined;

  const armIdleTimer = (context: SocketContext, connection: Connection) => {
    clearTimeout(connection.idleTimer);
    connection.idleTimer = undefined;
    if (config.SUBSCRIPTION_IDLE_TIMEOUT_MS === 0 || connection.subscriptions > 0) return;
    connection.idleTimer = setTimeout(() => {
      // 1000: a graphql-ws client reconnects by itself when it next subscribes.
      context.extra.socket.close(1000, 'Closed after a while without subscriptions');
    }, config.SUBSCRIPTION_IDLE_TIMEOUT_MS);
  };

  const reserve = (connection: Connection): GraphQLError | undefined => {
    if (connection.subscriptions >= config.SUBSCRIPTIONS_MAX_PER_CONNECTION) {
      return refusal(
        SubscriptionErrorCode.TOO_MANY_SUBSCRIPTIONS,
        `A connection may hold at most ${config.SUBSCRIPTIONS_MAX_PER_CONNECTION} subscriptions`,
        { max: config.SUBSCRIPTIONS_MAX_PER_CONNECTION },
      );
    }
    if (stats.activeSubscriptions >= config.SUBSCRIPTIONS_MAX_PER_INSTANCE) {
      return refusal(SubscriptionErrorCode.TOO_MANY_SUBSCRIPTIONS, 'This server holds as many subscriptions as it can; try again later', {
        max: config.SUBSCRIPTIONS_MAX_PER_INSTANCE,
      });
    }
    connection.subscriptions += 1;
    stats.activeSubscriptions += 1;
    return undefined;
  };

  const graphqlWs = makeHandler<Record<string, unknown> | undefined, Record<PropertyKey, never>>(
    {
      schema,
      isProd: options.production,
      connectionInitWaitTimeout: config.SUBSCRIPTION_INIT_TIMEOUT_MS,

      async onConnect(context) {
        const credentials = credentialsFrom(context.extra.request.headers, context.connectionParams ?? {});
        try {
          const principal = await authenticate(credentials);
          // Opening a socket costs 1 point, like any request arriving over HTTP: a client that opens and closes
          // sockets in a loop (each one authenticated, an API key being a database lookup) spends its budget.
          const refusedByBudget = await overBudget(principal, context.extra.request.ip, 1);
          if (refusedByBudget) {
            context.extra.socket.close(TOO_MANY_REQUESTS_CLOSE, refusedByBudget.message.slice(0, 120));
            return false;
          }
          const connection: Connection = { principal, credentials, subscriptions: 0, idleTimer: undefined };
          connections.set(context, connection);
          armIdleTimer(context, connection);
          return true;
        } catch (error) {
          if (!(error instanceof AuthenticationError)) throw error;
          // 4401 rather than graphql-ws's 4403 for a refused connection: clients do not retry it.
          closeUnauthenticated(context, error);
          return false;
        }
      },

      async onSubscribe(context, id, payload) {
        const connection = connections.get(context);
        if (!connection) return [refusal('UNAUTHENTICATED', 'The connection is not authenticated')];
        const refuse = (errors: readonly GraphQLError[]) => {
          stats.refused += 1;
          return [...errors];
        };
        // A token may have expired, or an API key been revoked, since the socket initialised.
        try {
          await authenticate(connection.credentials);
        } catch (error) {
          if (!(error instanceof AuthenticationError)) throw error;
          closeUnauthenticated(context, error);
          return refuse([refusal('UNAUTHENTICATED', error.message)]);
        }
        const prepared = checkSubscription(payload);
        const request = context.extra.request;
        // Like a request over HTTP: 1 point for arriving, whether or not it is valid, and its cost when it is.
        const refusedByBudget = await overBudget(connection.principal, request.ip, Array.isArray(prepared) ? 1 : prepared.cost + 1);
        if (refusedByBudget) return refuse([refusedByBudget]);
        if (Array.isArray(prepared)) return refuse(prepared);
        const overCap = reserve(connection);
        if (overCap) return refuse([overCap]);
        clearTimeout(connection.idleTimer);

        const release = () => {
          connection.subscriptions -= 1;
          stats.activeSubscriptions -= 1;
          if (connections.has(context) && context.extra.socket.readyState === context.extra.socket.OPEN) armIdleTimer(context, connection);
        };
        const { document, variables } = prepared;
        // Answers differ only by role, so callers of one role share a live query, like they share cached answers.
        const newContext = () => createContext(db, cursors, connection.principal);
        const scope = cacheScope(connection.principal);
        const key = createHash('sha256')
          .update(stableJson([scope, payload.operationName ?? null, print(document), variables]))
          .digest('base64');
        let joined;
        try {
          joined = await registry.join(
            {
              key,
              execute: async () => {
                const contextValue = newContext();
                const result = await execute({ schema, document, variableValues: variables, operationName: payload.operationName, contextValue });
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
          );
        } catch (error) {
          release();
          throw error;
        }
        if ('errors' in joined) {
          release();
          return refuse(joined.errors);
        }
        joined.subscription.whenEnded(release);
        const live: LiveExecutionContext = { live: joined.subscription };
        return { schema, document, variableValues: variables, operationName: payload.operationName, contextValue: live };
      },

      // The subscription was set up in onSubscribe; graphql-ws drains its results into the socket.
      subscribe: (args) => (args.contextValue as LiveExecutionContext).live,

      onError: (_context, _id, _payload, errors) => errors.map(formatForSocket),

      onClose(context) {
        const connection = connections.get(context);
        if (connection) clearTimeout(connection.idleTimer);
        connections.delete(context);
      },
    },
    config.SUBSCRIPTION_KEEPALIVE_MS,
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
      clearInterval(reauthentication);
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
