import pg from 'pg';
import type { ListenEvents, Unlisten } from './database-handle.js';

const RECONNECT_BASE_MS = 100;
const RECONNECT_MAX_MS = 5_000;

/**
 * LISTEN on a dedicated pg.Client, not a pooled one: the pool recycles idle connections, and a notification
 * is only delivered to the session that listens. For the same reason it needs a direct connection to
 * PostgreSQL (DATABASE_DIRECT_URL): through a pooler in transaction mode the session that ran LISTEN goes back
 * to the pooler's pool, and its notifications to nobody. The connection is re-made with capped exponential
 * backoff whenever it drops (a restart, a failover, pg_terminate_backend).
 */
export async function listenOnPostgres(
  connectionString: string,
  connectTimeoutMs: number,
  channel: string,
  onPayload: (payload: string) => void,
  events: ListenEvents = {},
): Promise<Unlisten> {
  let current: pg.Client | undefined;
  let stopped = false;
  let failures = 0;
  let retry: NodeJS.Timeout | undefined;
  const dropped = new WeakSet<pg.Client>();

  const drop = (client: pg.Client, error: unknown) => {
    if (dropped.has(client)) return;
    dropped.add(client);
    if (current === client) current = undefined;
    client.end().catch(() => undefined);
    if (stopped) return;
    events.onConnectionError?.(error);
    const delay = Math.min(RECONNECT_BASE_MS * 2 ** failures, RECONNECT_MAX_MS);
    failures += 1;
    retry = setTimeout(() => void connect(), delay);
  };

  const connect = async () => {
    retry = undefined;
    const client = new pg.Client({
      connectionString,
      connectionTimeoutMillis: connectTimeoutMs,
      application_name: 'marketpulse-listener',
      // A peer that vanishes without closing the socket is noticed by TCP keepalive, not by an idle LISTEN.
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
    });
    client.on('notification', (message) => {
      if (message.channel === channel && message.payload !== undefined) onPayload(message.payload);
    });
    client.on('error', (error) => drop(client, error));
    client.on('end', () => drop(client, new Error('the listening connection was closed')));
    try {
      await client.connect();
      await client.query(`LISTEN ${client.escapeIdentifier(channel)}`);
    } catch (error) {
      drop(client, error);
      return;
    }
    if (stopped || dropped.has(client)) {
      dropped.add(client);
      await client.end().catch(() => undefined);
      return;
    }
    current = client;
    failures = 0;
    events.onListening?.();
  };

  await connect();
  return async () => {
    stopped = true;
    clearTimeout(retry);
    const client = current;
    current = undefined;
    if (client) {
      dropped.add(client);
      await client.end().catch(() => undefined);
    }
  };
}

/** Unlistens whatever is still listening when the handle closes, so that no session outlives it. */
export function trackListeners() {
  const active = new Set<Unlisten>();
  return {
    add(unlisten: Unlisten): Unlisten {
      const once = async () => {
        if (active.delete(once)) await unlisten();
      };
      active.add(once);
      return once;
    },
    closeAll: () => Promise.all([...active].map((unlisten) => unlisten())).then(() => undefined),
  };
}
