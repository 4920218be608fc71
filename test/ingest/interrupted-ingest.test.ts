import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compiledEntry } from '../support/built.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { has } from '../support/requirements.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ROWS = 100_000;
const BATCH = 1_000;

async function writeFeed(file: string): Promise<void> {
  const out = createWriteStream(file);
  out.write('id,customer_id,product_id,quantity,amount,status,transaction_date\n');
  let chunk = '';
  for (let id = 1; id <= ROWS; id++) {
    const second = String(id % 60).padStart(2, '0');
    chunk += `${id},${1 + (id % 5)},${1 + (id % 3)},1,10.00,completed,2025-04-01T10:00:${second}Z\n`;
    if (chunk.length > 1 << 16) {
      if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
      chunk = '';
    }
  }
  await new Promise<void>((resolve, reject) => out.end(chunk, () => resolve()).once('error', reject));
}

describe.runIf(has('postgres-server', 'killing an ingest process mid-way'))('an ingest killed mid-way', () => {
  let database: TestDatabase;
  let dir: string;
  let child: ChildProcess | undefined;

  beforeAll(async () => {
    database = await createTestDatabase();
    dir = await mkdtemp(path.join(tmpdir(), 'marketpulse-killed-ingest-'));
    await sql`INSERT INTO customers (id, name, created_at) SELECT n, 'לקוח ' || n, now() FROM generate_series(1, 5) n`.execute(
      database.handle.db,
    );
    await sql`INSERT INTO products (id, sku, name, category, unit_price) SELECT n, 'SKU-' || n, 'מוצר', 'בדיקות', 10 FROM generate_series(1, 3) n`.execute(
      database.handle.db,
    );
  });

  afterAll(async () => {
    if (child?.pid && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await database?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('leaves whole batches only, and running it again completes the load', async () => {
    const file = path.join(dir, 'feed.csv');
    await writeFeed(file);
    const count = async () =>
      (await sql<{ n: number }>`SELECT count(*)::int AS n FROM transactions`.execute(database.handle.db)).rows[0]!.n;

    child = spawn(process.execPath, [...compiledEntry('src/cli/ingest.ts'), file, '--batch-size', String(BATCH)], {
      cwd: ROOT,
      detached: true,
      stdio: 'ignore',
      env: { ...process.env, DATABASE_URL: database.url! },
    });
    const exited = new Promise((resolve) => child!.once('exit', resolve));
    const deadline = Date.now() + 60_000;
    while ((await count()) === 0) {
      if (Date.now() > deadline) throw new Error('the ingest never committed a batch');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    process.kill(-child.pid!, 'SIGKILL');
    await exited;

    // PostgreSQL rolls back the killed session's open transaction once it sees the connection gone.
    const settled = Date.now() + 30_000;
    for (;;) {
      const { rows } = await sql<{ n: number }>`
        SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
          AND application_name = 'marketpulse'`.execute(database.handle.db);
      if (rows[0]!.n === 0) break;
      if (Date.now() > settled) throw new Error('the killed ingest session is still open');
      await new Promise((resolve) => setTimeout(resolve, 25));
    }

    const { rows } = await sql<{ n: number; low: string; high: string }>`
      SELECT count(*)::int AS n, min(id)::text AS low, max(id)::text AS high FROM transactions`.execute(
      database.handle.db,
    );
    const { n, low, high } = rows[0]!;
    expect(n).toBeGreaterThan(0);
    expect(n).toBeLessThan(ROWS);
    expect(n % BATCH).toBe(0);
    // Batches are written in file order: what is there is exactly the first n rows.
    expect([low, high]).toEqual(['1', String(n)]);
    const { rows: sums } = await sql<{ rollup: string; base: string }>`
      SELECT (SELECT coalesce(sum(revenue), 0)::text FROM rollup_daily) AS rollup,
             (SELECT coalesce(sum(amount), 0)::text FROM transactions WHERE status = 'completed') AS base`.execute(
      database.handle.db,
    );
    expect(sums[0]!.rollup).toBe(sums[0]!.base);

    const again = spawn(process.execPath, [...compiledEntry('src/cli/ingest.ts'), file], {
      cwd: ROOT,
      stdio: 'ignore',
      env: { ...process.env, DATABASE_URL: database.url! },
    });
    child = again;
    expect(await new Promise((resolve) => again.once('exit', resolve))).toBe(0);
    expect(await count()).toBe(ROWS);
  }, 120_000);
});
