import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from '../../src/db/database-handle.js';
import { openEmbedded } from '../../src/db/pglite-connector.js';
import { migrateToLatest } from '../../src/db/migrator.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { has } from '../support/requirements.js';

// mp_settled_data_version() (sql/migrations/010): the version below which every writing transaction has ended,
// read by every gateway's change listener after it LISTENs. Writers run on sessions of their own, as plain SQL
// clients do.

interface Versions {
  settled: bigint;
  latest: bigint;
}

async function readSettled(db: DatabaseHandle['db']): Promise<Versions> {
  const { rows } = await sql<{ settled: string; latest: string }>`
    SELECT settled::text AS settled, latest::text AS latest FROM mp_settled_data_version()`.execute(db);
  return { settled: BigInt(rows[0]!.settled), latest: BigInt(rows[0]!.latest) };
}

const acrossSessions = 'the settled data version across sessions';
describe.runIf(has('postgres-server', acrossSessions))(acrossSessions, () => {
  let database: TestDatabase;
  const sessions: pg.Client[] = [];
  let nextId = 1;

  async function session(): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    sessions.push(client);
    return client;
  }

  /** Inserts a customer on `client` (in whatever transaction it has open); returns its id and the version taken. */
  async function insertCustomer(client: pg.Client): Promise<{ id: number; version: bigint }> {
    const id = nextId++;
    await client.query(`INSERT INTO customers (id, name, created_at) VALUES ($1, $2, now())`, [id, `לקוח ${id}`]);
    const { rows } = await client.query<{ version: string }>(`SELECT currval('data_version_seq')::text AS version`);
    return { id, version: BigInt(rows[0]!.version) };
  }

  beforeAll(async () => {
    database = await createTestDatabase();
  });

  afterAll(async () => {
    await Promise.all(sessions.map((client) => client.end().catch(() => undefined)));
    await database?.drop();
  });

  it('stays below a version whose transaction is open after a later one committed, and passes it once it commits', async () => {
    const slow = await session();
    const quick = await session();
    await slow.query('BEGIN');
    const held = await insertCustomer(slow);
    const later = await insertCustomer(quick);
    expect(later.version).toBeGreaterThan(held.version);

    expect(await readSettled(database.handle.db)).toEqual({ settled: held.version - 1n, latest: later.version });
    // A second statement of the open transaction takes a higher version; its first one still bounds it.
    const second = await insertCustomer(slow);
    expect((await readSettled(database.handle.db)).settled).toBe(held.version - 1n);

    await slow.query('COMMIT');
    expect(await readSettled(database.handle.db)).toEqual({ settled: second.version, latest: second.version });
  });

  it('counts a rolled-back version as ended, and so one rolled back to a savepoint', async () => {
    const writer = await session();
    await writer.query('BEGIN');
    const rolledBack = await insertCustomer(writer);
    expect((await readSettled(database.handle.db)).settled).toBe(rolledBack.version - 1n);
    await writer.query('ROLLBACK');
    expect((await readSettled(database.handle.db)).settled).toBe(rolledBack.version);

    await writer.query('BEGIN');
    await writer.query('SAVEPOINT attempt');
    const undone = await insertCustomer(writer);
    await writer.query('ROLLBACK TO SAVEPOINT attempt');
    // The savepoint took its locks with it: nothing of this transaction is open as far as versions go ...
    expect((await readSettled(database.handle.db)).settled).toBe(undone.version);
    // ... and its next write shows itself again.
    const kept = await insertCustomer(writer);
    expect((await readSettled(database.handle.db)).settled).toBe(kept.version - 1n);
    await writer.query('COMMIT');
    expect((await readSettled(database.handle.db)).settled).toBe(kept.version);
  });

  it('makes no writer wait, for another writer or for a reader, while a transaction holds a low version', async () => {
    const slow = await session();
    const writers = await Promise.all(Array.from({ length: 4 }, () => session()));
    await slow.query('BEGIN');
    const held = await insertCustomer(slow);
    const started = performance.now();
    // Writers commit and readers read while the slow transaction stays open, all at once.
    const [written, read] = await Promise.all([
      Promise.all(
        writers.map(async (writer) => {
          const versions: bigint[] = [];
          for (let i = 0; i < 20; i++) versions.push((await insertCustomer(writer)).version);
          return versions;
        }),
      ),
      Promise.all(Array.from({ length: 20 }, () => readSettled(database.handle.db))),
    ]);
    const tookMs = performance.now() - started;
    console.log(
      `80 single-statement writes on 4 sessions and 20 reads of the settled version beside an open writer: ${Math.round(tookMs)} ms`,
    );
    expect(tookMs).toBeLessThan(5_000);
    expect(read.every((versions) => versions.settled === held.version - 1n)).toBe(true);
    expect(written.flat().every((version) => version > held.version)).toBe(true);
    await slow.query('COMMIT');
    expect((await readSettled(database.handle.db)).settled).toBe((await readSettled(database.handle.db)).latest);
  });

  it('never names a version settled whose rows a snapshot taken after the read lacks, under concurrent writers', async () => {
    const writers = await Promise.all(Array.from({ length: 6 }, () => session()));
    const reader = await session();
    const committed: { id: number; version: bigint }[] = [];
    let writing = true;
    const writerLoops = writers.map(async (writer, n) => {
      while (writing) {
        await writer.query('BEGIN');
        const taken = await insertCustomer(writer);
        // Some transactions stay open a while, some roll back: versions end out of order and leave gaps.
        if (n % 3 === 0) await new Promise((resolve) => setTimeout(resolve, Math.random() * 60));
        if (Math.random() < 0.2) {
          await writer.query('ROLLBACK');
        } else {
          await writer.query('COMMIT');
          committed.push(taken);
        }
      }
    });
    const observations: { settled: bigint; visible: Set<number> }[] = [];
    const until = performance.now() + 3_000;
    while (performance.now() < until) {
      const { rows } = await reader.query<{ settled: string }>(
        'SELECT settled::text AS settled FROM mp_settled_data_version()',
      );
      // A statement of its own, so a snapshot taken after the read, as a gateway's next query has.
      const visible = await reader.query<{ id: string }>('SELECT id::text AS id FROM customers');
      observations.push({
        settled: BigInt(rows[0]!.settled),
        visible: new Set(visible.rows.map((row) => Number(row.id))),
      });
    }
    writing = false;
    await Promise.all(writerLoops);

    const missing = observations.flatMap(({ settled, visible }) =>
      committed
        .filter((write) => write.version <= settled && !visible.has(write.id))
        .map((write) => ({ settled, ...write })),
    );
    const advanced = new Set(observations.map((observation) => observation.settled)).size;
    console.log(
      `${committed.length} committed writes on 6 sessions, ${observations.length} reads, ${advanced} distinct settled versions`,
    );
    expect(missing).toEqual([]);
    expect(committed.length).toBeGreaterThan(50);
    expect(advanced).toBeGreaterThan(10);
  }, 30_000);
});

describe('the settled data version on the embedded PGlite', () => {
  let handle: DatabaseHandle;

  beforeAll(async () => {
    handle = await openEmbedded(undefined);
    await migrateToLatest(handle);
  });

  afterAll(async () => {
    await handle?.close();
  });

  it('is the latest version, its one session being the only writer', async () => {
    await sql`INSERT INTO customers (id, name, created_at) VALUES (1, 'לקוח', now())`.execute(handle.db);
    await handle.db.transaction().execute(async (trx) => {
      await sql`INSERT INTO customers (id, name, created_at) VALUES (2, 'לקוח', now())`.execute(trx);
      await sql`UPDATE customers SET city = 'חיפה'`.execute(trx);
    });
    expect(await readSettled(handle.db)).toEqual({ settled: 3n, latest: 3n });
  });
});
