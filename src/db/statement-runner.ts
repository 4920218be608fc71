import type { PostgresPool, PostgresPoolClient } from 'kysely';
import type pg from 'pg';
import { sendCancelRequest } from './cancel-request.js';
import { QUERY_CANCELED, StatementTimeoutError, isSessionLost } from './statement-failures.js';
import { statementName } from './statement-name.js';

// How the gateway's statements go to PostgreSQL: each in one round trip, named after its text, with the id of
// the request it serves, and cancelled at the statement timeout where PostgreSQL cannot be told the timeout.

export interface StatementRunnerOptions {
  /** false: unnamed statements, parsed with every execution (PgBouncer before 1.21 in transaction mode). */
  preparedStatements: boolean;
  /** Cancels a statement once it has run this long (0: never); only where PostgreSQL cannot time it itself. */
  cancelAfterMs: number;
  /** The longest wait for a cancel request to be taken. */
  connectTimeoutMs: number;
  onStatement?: (name: string, seconds: number) => void;
  onError?: (error: unknown) => void;
  /** The id of the request being served, if any. */
  requestLabel?: () => string | undefined;
}

// What may travel as a portal name and inside a comment: the request ids the gateway accepts (request-context.ts),
// which hold no `*`, so no comment can be closed or opened by one.
export const LABEL = /^[A-Za-z0-9._:@/+=-]{1,64}$/;

/** A checked-out connection, with the session it stands for (the same object each time that session is checked out). */
export interface StatementClient extends PostgresPoolClient {
  readonly session: object;
}

export interface StatementPool extends PostgresPool {
  connect(): Promise<StatementClient>;
}

/**
 * Kysely's pool over node-postgres, sending each statement in one round trip and nothing else per checkout.
 *
 * With prepared statements (the default) every parameterised statement is a named prepared statement, named
 * after its text, so each session parses and plans a report query once. The gateway's statements are a small
 * fixed set, so the per-session cache stays small. A migration that changes a view's columns makes sessions
 * that prepared against the old shape fail until the pool replaces them: restart gateways after one.
 *
 * The request id reaches PostgreSQL with the statement itself: as the name of the portal it binds (outside a
 * transaction block, where the portal ends with the statement), which the server's log prints with every
 * execute (`execute mp_v_daily_revenue_3f1c0a9b2e4d/<request id>`), and, for unnamed statements, whose text
 * travels every time, as a leading comment, which pg_stat_activity shows too. A comment in a named statement's
 * text would be sent once per session and name the request that prepared it.
 */
export function runStatements(pool: pg.Pool, options: StatementRunnerOptions): StatementPool {
  const names = new Map<string, string>();
  const nameOf = (text: string) => {
    let name = names.get(text);
    if (!name) {
      name = statementName(text);
      names.set(text, name);
    }
    return name;
  };
  const { onStatement, requestLabel, preparedStatements, cancelAfterMs, connectTimeoutMs } = options;
  const timed = async <T>(name: string, run: () => Promise<T>): Promise<T> => {
    if (!onStatement) return run();
    const started = performance.now();
    try {
      return await run();
    } finally {
      onStatement(name, (performance.now() - started) / 1000);
    }
  };
  const cancelling = async <T>(client: pg.PoolClient, run: () => Promise<T>): Promise<T> => {
    if (cancelAfterMs <= 0) return run();
    let cancelled: Promise<void> | undefined;
    const timer = setTimeout(() => {
      cancelled = sendCancelRequest(client, connectTimeoutMs);
    }, cancelAfterMs);
    try {
      return await run();
    } catch (error) {
      if (cancelled && (error as { code?: unknown }).code === QUERY_CANCELED)
        throw new StatementTimeoutError(cancelAfterMs, { cause: error });
      throw error;
    } finally {
      clearTimeout(timer);
      // The connection goes back to the pool only once the cancel is dealt with, so it cannot reach a later statement.
      if (cancelled) await cancelled;
    }
  };
  const guarded = new WeakSet<pg.PoolClient>();
  return {
    connect: async () => {
      const client = await pool.connect();
      // The pool listens for errors on idle clients only. A checked-out client whose backend is terminated
      // emits 'error' once its query has failed; unheard, that would crash the process.
      if (!guarded.has(client)) {
        guarded.add(client);
        client.on('error', (error) => options.onError?.(error));
      }
      // A client whose statement failed because its session ended goes back to the pool destroyed, not idle,
      // so that the next request does not get a dead connection before the pool notices.
      let broken = false;
      const watch = <T>(run: Promise<T>): Promise<T> =>
        run.catch((error: unknown) => {
          if (isSessionLost(error)) broken = true;
          throw error;
        });
      return {
        query: ((text: string, values: unknown[]) => {
          const name = nameOf(text);
          // Parameterless statements (scripts, DDL, BEGIN and COMMIT) go by the simple protocol, as they are.
          if (values.length === 0) return watch(timed(name, () => cancelling(client, () => client.query(text))));
          const found = requestLabel?.();
          const label =
            found !== undefined && LABEL.test(found) && client.getTransactionStatus() === 'I' ? found : undefined;
          const config: pg.QueryConfig = preparedStatements
            ? { name, text, values }
            : { text: label === undefined ? text : `/* request ${label} */ ${text}`, values };
          if (label !== undefined) (config as { portal?: string }).portal = label;
          return watch(timed(name, () => cancelling(client, () => client.query(config))));
        }) as unknown as PostgresPoolClient['query'],
        release: (destroy?: boolean) => client.release(destroy || broken),
        session: client,
      };
    },
    end: () => pool.end(),
  };
}
