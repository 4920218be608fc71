import type { PGlite } from '@electric-sql/pglite';
import type { DatabaseConnection, Dialect, Driver, QueryResult } from 'kysely';
import { KyselyPGlite } from 'kysely-pglite';

// kysely-pglite hands PGlite's results and errors to Kysely as they are, which differs from node-postgres in two
// ways that matter here: the rows an UPDATE or DELETE touched are in `affectedRows`, where Kysely reads
// `numAffectedRows` (so every such count read 0 on the embedded database), and a failed statement's error
// carries the statement's parameters, which a logged error must not (customer ids, key hashes).

// The commands whose count Kysely reports, as its own node-postgres driver decides.
const COUNTED = new Set(['INSERT', 'UPDATE', 'DELETE', 'MERGE']);

interface PGliteResult {
  rows: unknown[];
  command?: string;
  affectedRows?: number;
}

function asNodePostgresResult<R>(result: QueryResult<R>): QueryResult<R> {
  const { rows, command, affectedRows } = result as unknown as PGliteResult;
  if (command === undefined || !COUNTED.has(command)) return { rows: rows as R[] };
  return { rows: rows as R[], numAffectedRows: BigInt(affectedRows ?? 0) };
}

function withoutParameters(error: unknown): unknown {
  if (typeof error === 'object' && error !== null) {
    delete (error as { params?: unknown }).params;
    delete (error as { queryOptions?: unknown }).queryOptions;
  }
  return error;
}

function wrapConnection(connection: DatabaseConnection): DatabaseConnection {
  return {
    executeQuery: async (query) => {
      try {
        return asNodePostgresResult(await connection.executeQuery(query));
      } catch (error) {
        throw withoutParameters(error);
      }
    },
    streamQuery: (query, chunkSize) => connection.streamQuery(query, chunkSize),
  };
}

function wrapDriver(driver: Driver): Driver {
  return {
    init: () => driver.init(),
    acquireConnection: async () => wrapConnection(await driver.acquireConnection()),
    beginTransaction: (connection, settings) => driver.beginTransaction(connection, settings),
    commitTransaction: (connection) => driver.commitTransaction(connection),
    rollbackTransaction: (connection) => driver.rollbackTransaction(connection),
    releaseConnection: (connection) => driver.releaseConnection(connection),
    destroy: () => driver.destroy(),
  };
}

/** Kysely over one PGlite instance, with results and errors shaped as node-postgres gives them. */
export function pgliteDialect(client: PGlite): Dialect {
  const dialect = new KyselyPGlite(client).dialect;
  return { ...dialect, createDriver: () => wrapDriver(dialect.createDriver()) };
}
