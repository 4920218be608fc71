import type { Context } from 'graphql-ws';
import { CloseCode } from 'graphql-ws';
import type { Extra } from 'graphql-ws/use/@fastify/websocket';
import { decodeJwt } from 'jose';
import { AuthenticationError, type Authenticate, type Credentials } from '../auth/authenticate.js';
import type { Principal } from '../auth/principal.js';
import type { Logger } from '../observability/logger.js';

export type SocketContext = Context<Record<string, unknown> | undefined, Extra>;

// graphql-ws closes refused connections with 4403, which its clients do not retry; 4429 says to come back later.
export const TOO_MANY_REQUESTS_CLOSE = 4429;

/** One open, initialised socket: who it is and what it follows. */
export interface Connection {
  principal: Principal;
  /** Whose subscription places and rate budget this socket's are (SubscriptionServerOptions.principalKey). */
  principalKey: string;
  /** As sent when the socket initialised: checked again every SUBSCRIPTION_REAUTH_INTERVAL_MS. */
  credentials: Credentials;
  /** When its bearer token expires (epoch ms), checked at every subscribe without a lookup; API keys have none. */
  expiresAt: number | undefined;
  /** Subscriptions held or being set up. */
  subscriptions: number;
  idleTimer: NodeJS.Timeout | undefined;
}

export function closeUnauthenticated(context: SocketContext, error: AuthenticationError): void {
  context.extra.socket.close(CloseCode.Unauthorized, error.message.slice(0, 120));
}

export interface SocketConnectionsOptions {
  authenticate: Authenticate;
  /** 0 keeps sockets without subscriptions open for ever. */
  idleTimeoutMs: number;
  /** 0: credentials are checked only when a socket initialises and when it subscribes. */
  reauthIntervalMs: number;
  logger: Pick<Logger, 'warn'>;
}

/**
 * The initialised sockets of a gateway, with what each one's principal may do: closed after a while without
 * subscriptions, and closed when their credentials no longer authenticate (checked every so often, so that a
 * socket does not outlive its token or API key; sockets that share credentials share the check).
 */
export class SocketConnections {
  private readonly connections = new Map<SocketContext, Connection>();
  private readonly reauthentication: NodeJS.Timeout | undefined;

  constructor(private readonly options: SocketConnectionsOptions) {
    this.reauthentication =
      options.reauthIntervalMs > 0
        ? setInterval(() => void this.reauthenticate(), options.reauthIntervalMs).unref()
        : undefined;
  }

  get(context: SocketContext): Connection | undefined {
    return this.connections.get(context);
  }

  has(context: SocketContext): boolean {
    return this.connections.has(context);
  }

  add(context: SocketContext, connection: Connection): void {
    this.connections.set(context, connection);
    this.armIdleTimer(context, connection);
  }

  remove(context: SocketContext): void {
    const connection = this.connections.get(context);
    if (connection) clearTimeout(connection.idleTimer);
    this.connections.delete(context);
  }

  /** Starts the idle timer of a socket that holds no subscriptions (again); stops it while it holds some. */
  armIdleTimer(context: SocketContext, connection: Connection): void {
    clearTimeout(connection.idleTimer);
    connection.idleTimer = undefined;
    if (this.options.idleTimeoutMs === 0 || connection.subscriptions > 0) return;
    connection.idleTimer = setTimeout(() => {
      // 1000: a graphql-ws client reconnects by itself when it next subscribes.
      context.extra.socket.close(1000, 'Closed after a while without subscriptions');
    }, this.options.idleTimeoutMs);
  }

  /** Stops checking credentials; the sockets themselves are closed by the server. */
  close(): void {
    clearInterval(this.reauthentication);
  }

  private async reauthenticate(): Promise<void> {
    const byCredentials = new Map<string, { credentials: Credentials; contexts: SocketContext[] }>();
    for (const [context, { credentials }] of this.connections) {
      const key = JSON.stringify([credentials.authorization ?? null, credentials.apiKey ?? null]);
      const group = byCredentials.get(key);
      if (group) group.contexts.push(context);
      else byCredentials.set(key, { credentials, contexts: [context] });
    }
    for (const { credentials, contexts } of byCredentials.values()) {
      try {
        await this.options.authenticate(credentials);
      } catch (error) {
        if (!(error instanceof AuthenticationError)) {
          this.options.logger.warn({ err: error }, 'could not check the credentials of open sockets');
          continue;
        }
        for (const context of contexts) closeUnauthenticated(context, error);
      }
    }
  }
}

/** When a bearer token, verified already, expires (epoch ms); undefined for an API key or a token without `exp`. */
export function tokenExpiry(credentials: Credentials): number | undefined {
  if (credentials.apiKey || !credentials.authorization) return undefined;
  const token = /^Bearer\s+(\S+)\s*$/i.exec(credentials.authorization)?.[1];
  if (!token) return undefined;
  try {
    const { exp } = decodeJwt(token);
    return typeof exp === 'number' ? exp * 1_000 : undefined;
  } catch {
    return undefined;
  }
}
