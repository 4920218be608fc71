import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { describeWhereAvailable } from '../support/availability.js';
import { isRunning } from '../support/child-processes.js';
import { pgbouncerUnavailable, pgbouncerVersion, startPgBouncer, type PgBouncer } from '../support/pgbouncer.js';

const serverUrl = inject('databaseUrl');
const unavailable = serverUrl
  ? pgbouncerUnavailable()
  : 'no PostgreSQL server to put PgBouncer in front of (the suite runs on the embedded PGlite)';

async function onServer(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

describeWhereAvailable(unavailable)('PgBouncer in transaction mode', () => {
  const database = `mp_test_${randomBytes(6).toString('hex')}`;
  const clients: pg.Client[] = [];
  let bouncer: PgBouncer;

  beforeAll(async () => {
    await onServer(`CREATE DATABASE ${database}`);
    // Each test that counts on which server connection a transaction gets has a pool (alias) of its own.
    bouncer = await startPgBouncer({
      server: serverUrl,
      poolSize: 2,
      databases: { pooling_probe: `dbname=${database}`, prepared_probe: `dbname=${database}` },
    });
  });

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.end().catch(() => undefined)));
    await bouncer?.stop();
    await onServer(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  });

  async function connect(name: string, extra: pg.ClientConfig = {}): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: bouncer.url(name), ...extra });
    clients.push(client);
    await client.connect();
    return client;
  }

  it('gives each transaction whichever server session is free, so a session setting does not follow its client', async () => {
    const a = await connect('pooling_probe');
    const b = await connect('pooling_probe');
    const before = await a.query<{ pid: number }>(
      `SELECT set_config('mp.probe', 'set by a', false), pg_backend_pid() AS pid`,
    );
    // b's transaction gets the session a just released, a's setting included, and keeps it until COMMIT.
    await b.query('BEGIN');
    const heldByB = await b.query<{ pid: number; probe: string | null }>(
      `SELECT pg_backend_pid() AS pid, current_setting('mp.probe', true) AS probe`,
    );
    const after = await a.query<{ pid: number; probe: string | null }>(
      `SELECT pg_backend_pid() AS pid, current_setting('mp.probe', true) AS probe`,
    );
    await b.query('COMMIT');

    expect(heldByB.rows[0]).toEqual({ pid: before.rows[0]!.pid, probe: 'set by a' });
    expect(after.rows[0]!.pid).not.toBe(before.rows[0]!.pid);
    expect(after.rows[0]!.probe ?? '').toBe('');
  });

  it('runs a parameterised query, whose unnamed statement lives within one transaction', async () => {
    const client = await connect(database);
    const result = await client.query<{ total: number; label: string }>(
      'SELECT $1::int + $2::int AS total, $3::text AS label',
      [2, 3, 'שלום'],
    );
    expect(result.rows).toEqual([{ total: 5, label: 'שלום' }]);
  });

  it('loses a named prepared statement once its client lands on another server session (PgBouncer before 1.21)', async () => {
    const a = await connect('prepared_probe');
    const b = await connect('prepared_probe');
    const statement = { name: 'mp_probe', text: 'SELECT pg_backend_pid() AS pid' };
    await a.query(statement);
    await b.query('BEGIN');
    try {
      // pg remembers mp_probe as prepared on its connection and sends only Bind/Execute, to a session that never saw it.
      await expect(a.query(statement)).rejects.toMatchObject({
        code: '26000',
        message: 'prepared statement "mp_probe" does not exist',
      });
    } finally {
      await b.query('COMMIT');
    }
  });

  it('refuses a client that sends startup options, rather than dropping its settings', async () => {
    await expect(connect(database, { options: '-c statement_timeout=1000' })).rejects.toThrow(
      'unsupported startup parameter: options',
    );
  });

  it('shows its pools and server sessions on the admin console', async () => {
    const client = await connect(database);
    const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    const pools = await bouncer.showPools();
    expect(pools).toContainEqual(expect.objectContaining({ database, user: 'postgres', pool_mode: 'transaction' }));
    const servers = await bouncer.showServers();
    expect(servers).toContainEqual(expect.objectContaining({ database, remote_pid: rows[0]!.pid }));
  });

  it("fails to start with PgBouncer's own log in the error", async () => {
    await expect(startPgBouncer({ server: serverUrl, settings: { pool_mode: 'sometimes' } })).rejects.toThrow(
      /PgBouncer exited with 1[\s\S]*invalid value "sometimes" for parameter pool_mode/,
    );
  });

  it('sets max_prepared_statements only on a PgBouncer that has it (1.21 and later)', async () => {
    const [major = 0, minor = 0] = pgbouncerVersion().split('.').map(Number);
    const start = startPgBouncer({ server: serverUrl, maxPreparedStatements: 100 });
    if (major > 1 || minor >= 21) {
      const withStatements = await start;
      try {
        expect(await withStatements.admin('SHOW CONFIG')).toContainEqual(
          expect.objectContaining({ key: 'max_prepared_statements', value: '100' }),
        );
      } finally {
        await withStatements.stop();
      }
    } else {
      await expect(start).rejects.toThrow(/max_prepared_statements needs PgBouncer 1\.21 or later/);
    }
  });

  it('stops, leaving neither its process nor its directory behind', async () => {
    const another = await startPgBouncer({ server: serverUrl });
    const client = new pg.Client({ connectionString: another.url(database) });
    await client.connect();
    expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    await client.end();
    expect(isRunning(another.pid)).toBe(true);
    await another.stop();
    expect(isRunning(another.pid)).toBe(false);
    expect(existsSync(another.directory)).toBe(false);
  });
});
