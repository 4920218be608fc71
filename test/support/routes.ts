import { afterAll, beforeAll, describe, inject } from 'vitest';
import type { DatabaseHandle, DatabaseOptions } from '../../src/db/database-handle.js';
import { connectPostgres } from '../../src/db/postgres-connector.js';
import { describeWhereAvailable } from './availability.js';
import type { TestDatabase } from './database.js';
import { pgbouncerUnavailable, startPgBouncer, type PgBouncer } from './pgbouncer.js';

// The ways a gateway reaches PostgreSQL, so that one test body runs over each: directly (start-up settings,
// named prepared statements), and through PgBouncer in transaction mode as production runs it (no start-up
// settings, unnamed statements for Debian's PgBouncer 1.18, the change listener on the direct URL).

export interface DatabaseRoute {
  readonly name: 'directly' | 'through PgBouncer';
  /** A handle on `database` as the gateway's pool would open it by this route; closed with the route. */
  open(database: TestDatabase, options?: Partial<DatabaseOptions>): Promise<DatabaseHandle>;
  /** The PgBouncer of the route, if it has one. */
  readonly bouncer?: PgBouncer;
}

function databaseName(url: string): string {
  return decodeURIComponent(new URL(url).pathname.slice(1));
}

const serverUrl = () => inject('databaseUrl');

function pgbouncerRouteUnavailable(): string | undefined {
  return serverUrl()
    ? pgbouncerUnavailable()
    : 'no PostgreSQL server to put PgBouncer in front of (the suite runs on the embedded PGlite)';
}

/**
 * Declares `body` once per route, each in a describe block of its own named after the route. The PgBouncer route
 * starts a PgBouncer of its own for the block; where there is none it is skipped, saying why (never with CI=true).
 */
export function describeRoutes(body: (route: DatabaseRoute) => void): void {
  const openedDirectly: DatabaseHandle[] = [];
  describe('directly', () => {
    afterAll(async () => {
      await Promise.all(openedDirectly.splice(0).map((handle) => handle.close().catch(() => undefined)));
    });
    body({
      name: 'directly',
      // The embedded database is one session: there the test database's own handle is the only one.
      open: async (database, options = {}) => {
        if (!database.url) return database.handle;
        const handle = await database.reopen(options);
        openedDirectly.push(handle);
        return handle;
      },
    });
  });

  describeWhereAvailable(pgbouncerRouteUnavailable())('through PgBouncer in transaction mode', () => {
    let bouncer: PgBouncer | undefined;
    const opened: DatabaseHandle[] = [];
    beforeAll(async () => {
      bouncer = await startPgBouncer({ server: serverUrl(), poolSize: 4 });
    });
    afterAll(async () => {
      await Promise.all(opened.splice(0).map((handle) => handle.close().catch(() => undefined)));
      await bouncer?.stop();
    });
    body({
      name: 'through PgBouncer',
      get bouncer() {
        return bouncer;
      },
      open: async (database, options = {}) => {
        if (!bouncer || !database.url)
          throw new Error('the PgBouncer route needs a PostgreSQL server and its PgBouncer');
        // As the gateway opens DATABASE_URL when DATABASE_DIRECT_URL differs from it, with PG_PREPARED_STATEMENTS=false.
        const handle = connectPostgres(bouncer.url(databaseName(database.url)), {
          pooled: true,
          preparedStatements: false,
          listenUrl: database.url,
          reportTimezone: database.zone,
          ...options,
        });
        opened.push(handle);
        return handle;
      },
    });
  });
}
