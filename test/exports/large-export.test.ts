import { readFileSync } from 'node:fs';
import { get, type IncomingMessage } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startGatewayProcess, type GatewayProcess } from '../support/gateway-process.js';
import { parsePrometheus, valueOf, type Sample } from '../support/prometheus-text.js';
import { has } from '../support/requirements.js';

// An export of 200,000 customers from the gateway as production starts it (`node dist/main.js`, NODE_ENV=
// production), on a PostgreSQL database of its own: the process's memory while a client reads slowly, what the
// gateway reads while the client reads nothing, and what is left running when the client goes away or the
// database fails mid-export. The gateway's own metrics say how many rows it handed out and how many batch
// statements it ran (`marketpulse_sql_duration_seconds`, by prepared-statement name).

const CUSTOMERS = 200_000;
const BATCH_STATEMENT = /^mp_v_customer_analytics_/;

const runs = has('postgres-server', 'the 200,000-customer export (a gateway process and pg_stat_activity)');

let database: TestDatabase;
let gateway: GatewayProcess;
let observer: pg.Client;

beforeAll(async () => {
  if (!runs) return;
  database = await createTestDatabase();
  const db = database.handle.db;
  // Loaded as the seed loads: rollups deferred, then rebuilt once.
  await db.transaction().execute(async (trx) => {
    await sql`SELECT set_config('marketpulse.defer_rollups', 'on', true)`.execute(trx);
    await sql`INSERT INTO products (id, sku, name, category, unit_price) VALUES (1, 'LAP-1', 'מחשב נייד', 'מחשבים ניידים', 100.00)`.execute(
      trx,
    );
    await sql`INSERT INTO customers (id, name, email, city, created_at)
              SELECT g, 'לקוח מספר ' || g || ' בע"מ', 'customer' || g || '@example.co.il', 'תל אביב-יפו', '2024-01-01T00:00:00Z'
              FROM generate_series(1, ${CUSTOMERS}::int) AS g`.execute(trx);
    await sql`INSERT INTO transactions (id, customer_id, product_id, quantity, amount, status, transaction_date)
              SELECT g, (g::bigint * 7919) % ${CUSTOMERS} + 1, 1, 1, (g % 1000) + 0.50, 'completed', '2025-01-01T00:00:00Z'::timestamptz + (g % 300) * interval '1 day'
              FROM generate_series(1, 100000) AS g`.execute(trx);
    await sql`SELECT set_config('marketpulse.defer_rollups', 'off', true)`.execute(trx);
    await sql`SELECT mp_rebuild_rollups((SELECT timezone FROM rollup_state))`.execute(trx);
  });
  await sql`ANALYZE`.execute(db);
  gateway = await startGatewayProcess({
    NODE_ENV: 'production',
    DATABASE_URL: database.url!,
    RATE_LIMIT_POINTS: '0',
    LOG_LEVEL: 'info',
  });
  observer = new pg.Client({ connectionString: database.url });
  await observer.connect();
}, 300_000);

afterAll(async () => {
  await observer?.end();
  await gateway?.kill();
  await database?.drop();
});

/** The gateway's resident set, from the kernel. */
function rssBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no VmRSS for process ${pid}`);
  return Number(match[1]) * 1024;
}

async function metrics(): Promise<Sample[]> {
  return parsePrometheus(await (await fetch(`${gateway.base}/metrics`)).text());
}

/** Rows the gateway handed to export responses, and keyset batch statements it ran, so far. */
async function progress(): Promise<{ rows: number; batches: number }> {
  const samples = await metrics();
  const batches = samples
    .filter(
      (sample) =>
        sample.name === 'marketpulse_sql_duration_seconds_count' && BATCH_STATEMENT.test(sample.labels.query ?? ''),
    )
    .reduce((sum, sample) => sum + sample.value, 0);
  return { rows: valueOf(samples, 'marketpulse_export_rows_total', { kind: 'customers' }), batches };
}

/** Waits until the gateway's progress has not moved for `quietMs`; returns it. */
async function settled(quietMs = 600): Promise<{ rows: number; batches: number }> {
  let last = await progress();
  for (;;) {
    await sleep(quietMs);
    const now = await progress();
    if (now.rows === last.rows && now.batches === last.batches) return now;
    last = now;
  }
}

/** A GET on a connection of its own, resolved with the response once its headers are in (the body not read). */
function open(path: string, requestId: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const request = get(`${gateway.base}${path}`, { agent: false, headers: { 'x-request-id': requestId } }, resolve);
    request.on('error', reject);
  });
}

/**
 * The gateway's statements on the export's view now: running, or waiting for a lock on its tables. A statement
 * whose cached plan waits for a lock at Bind is not yet shown as active with its text, so its locks are asked too.
 */
async function exportStatements(): Promise<{ pid: number; wait_event_type: string | null }[]> {
  const { rows } = await observer.query<{ pid: number; wait_event_type: string | null }>(
    `SELECT a.pid, a.wait_event_type FROM pg_stat_activity a
     WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
       AND a.application_name LIKE 'marketpulse%' AND a.application_name <> 'marketpulse-listener'
       AND ((a.state <> 'idle' AND a.query LIKE '%v_customer_analytics%')
            OR EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.relation IN ('rollup_customer'::regclass, 'v_customer_analytics'::regclass)))`,
  );
  return rows;
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const started = performance.now();
  for (;;) {
    const found = await probe();
    if (found !== undefined) return found;
    if (performance.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe.runIf(runs)('an export of 200,000 customers', () => {
  it('streams in flat memory while the client reads slowly, and reads nothing while the client reads nothing', async () => {
    // Warm up the export's code and the pool, then take the baseline.
    const warm = await fetch(`${gateway.base}/export/customers?search=${encodeURIComponent('מספר 1999')}`);
    expect(warm.status).toBe(200);
    await warm.text();
    const baseline = rssBytes(gateway.child.pid!);
    const before = await progress();

    const samples: number[] = [];
    const sampler = setInterval(() => samples.push(rssBytes(gateway.child.pid!)), 50);
    const started = performance.now();
    let lines = 0;
    let bytes = 0;
    let firstLine = '';
    let pausedAt: { rows: number; batches: number } | undefined;
    let linesAtPause = 0;
    let afterPause: { rows: number; batches: number } | undefined;
    try {
      const response = await open('/export/customers', 'large-export-slow');
      expect(response.statusCode).toBe(200);
      let sinceNap = 0;
      for await (const chunk of response as AsyncIterable<Buffer>) {
        if (bytes === 0) firstLine = chunk.toString('utf8').split('\r\n', 1)[0]!;
        bytes += chunk.length;
        for (const byte of chunk) if (byte === 0x0a) lines += 1;
        sinceNap += chunk.length;
        // A slow client: about 5 MB/s, in bursts.
        if (sinceNap >= 128 * 1024) {
          sinceNap = 0;
          await sleep(25);
        }
        // Once, a client that stops reading: once the buffers on the way are full, the gateway reads no batch.
        if (!pausedAt && bytes > 8 * 2 ** 20) {
          linesAtPause = lines;
          pausedAt = await settled();
          await sleep(2_000);
          afterPause = await progress();
        }
      }
    } finally {
      clearInterval(sampler);
    }
    const seconds = (performance.now() - started) / 1000;
    const peak = Math.max(...samples);
    const after = await progress();
    console.log(
      `export of ${CUSTOMERS} customers: ${(bytes / 2 ** 20).toFixed(1)} MiB in ${seconds.toFixed(1)} s; gateway RSS baseline ` +
        `${(baseline / 2 ** 20).toFixed(0)} MiB, peak ${(peak / 2 ** 20).toFixed(0)} MiB (+${((peak - baseline) / 2 ** 20).toFixed(0)} MiB); ` +
        `while the client read nothing: ${pausedAt!.rows - before.rows} rows handed out, ${pausedAt!.rows - before.rows - (linesAtPause - 1)} ` +
        `of them not read yet, then ${afterPause!.rows - pausedAt!.rows} more in 2 s`,
    );

    expect(firstLine).toBe(
      '\uFEFFid,name,email,city,lifetimeValue,transactionCount,avgOrderValue,firstPurchaseAt,lastPurchaseAt',
    );
    expect(lines).toBe(CUSTOMERS + 1);
    expect(after.rows - before.rows).toBe(CUSTOMERS);
    expect(after.batches - before.batches).toBe(CUSTOMERS / 1_000);
    // Back-pressure: while the client read nothing, no batch was read; the gateway had run ahead of the client by
    // what the sockets' buffers hold (a few MiB on loopback), far from the end.
    expect(afterPause).toEqual(pausedAt);
    expect(pausedAt!.rows - before.rows - (linesAtPause - 1)).toBeLessThan(CUSTOMERS / 2);
    // Streamed, the process grows by the garbage V8 lets build up before a major collection (about 75 MiB on the
    // machine this was written on), whatever the export's length; reading the whole export before sending it
    // (one batch of 200,000) grew it by about 280 MiB.
    expect(peak - baseline).toBeLessThan(128 * 2 ** 20);
  }, 180_000);

  it('reads no further batch once a client that stopped reading goes away', async () => {
    const before = await progress();
    const response = await open('/export/customers?orderBy=NAME:ASC', 'large-export-gone');
    expect(response.statusCode).toBe(200);
    // Read the first chunk, then nothing: the socket fills up and the export waits.
    await new Promise((resolve) => response.once('data', resolve));
    response.pause();
    const stalled = await settled();
    expect(stalled.rows - before.rows).toBeLessThan(CUSTOMERS);
    response.destroy();
    await sleep(1_500);
    expect(await progress()).toEqual(stalled);
    expect(await exportStatements()).toEqual([]);
    await waitFor('the request line of the export that was cut', async () =>
      gateway.logs.find((line) => line.msg === 'request' && line.requestId === 'large-export-gone'),
    ).then((line) =>
      expect(line).toMatchObject({ status: 200, aborted: true, export: { kind: 'customers', complete: false } }),
    );
  }, 60_000);

  it('lets a batch statement running when the client goes away finish, and runs none after it', async () => {
    const before = await progress();
    const response = await open('/export/customers?orderBy=TRANSACTION_COUNT:DESC', 'large-export-in-flight');
    await new Promise((resolve) => response.once('data', resolve));
    response.pause();
    const stalled = await settled();
    // Hold the next batch in PostgreSQL: it waits for a lock the test holds.
    await observer.query('BEGIN');
    await observer.query('LOCK TABLE rollup_customer IN ACCESS EXCLUSIVE MODE');
    let released = false;
    try {
      response.resume();
      const [waiting] = await waitFor('a batch statement waiting on the lock', async () => {
        const found = await exportStatements();
        return found.length > 0 ? found : undefined;
      });
      expect(waiting!.wait_event_type).toBe('Lock');
      response.destroy();
      await sleep(300);
      await observer.query('COMMIT');
      released = true;
    } finally {
      if (!released) await observer.query('ROLLBACK');
    }
    const after = await settled(1_000);
    // The statement in flight finished (one more batch statement) and its rows went nowhere; nothing followed.
    expect(after.batches).toBe(stalled.batches + 1);
    expect(after.rows).toBe(stalled.rows);
    expect(after.rows - before.rows).toBeLessThan(CUSTOMERS);
    expect(await exportStatements()).toEqual([]);
  }, 60_000);

  it('cuts the connection when the database fails after the first rows, so that the client sees an incomplete export', async () => {
    const response = await open('/export/customers?orderBy=LAST_PURCHASE_AT:DESC', 'large-export-failed');
    expect(response.statusCode).toBe(200);
    const ended = new Promise<{ complete: boolean; error: string | undefined }>((resolve) => {
      let error: string | undefined;
      response.on('error', (problem) => (error = problem.message));
      response.on('close', () => resolve({ complete: response.complete, error }));
    });
    await new Promise((resolve) => response.once('data', resolve));
    response.pause();
    await settled();
    await observer.query('BEGIN');
    await observer.query('LOCK TABLE rollup_customer IN ACCESS EXCLUSIVE MODE');
    try {
      response.resume();
      const [waiting] = await waitFor('a batch statement waiting on the lock', async () => {
        const found = await exportStatements();
        return found.length > 0 ? found : undefined;
      });
      // The batch's session dies, as in a failover or a restart of PostgreSQL.
      await observer.query('SELECT pg_terminate_backend($1)', [waiting!.pid]);
    } finally {
      await observer.query('ROLLBACK');
    }
    const { complete, error } = await ended;
    expect(complete).toBe(false);
    expect(error).toMatch(/aborted/);
    const line = await waitFor('the request line of the failed export', async () =>
      gateway.logs.find((entry) => entry.msg === 'request' && entry.requestId === 'large-export-failed'),
    );
    expect(line).toMatchObject({ status: 200, aborted: true, export: { kind: 'customers', complete: false } });
    expect(
      gateway.logs.some(
        (entry) => entry.requestId === 'large-export-failed' && entry.msg.startsWith('export failed while streaming'),
      ),
    ).toBe(true);
    expect(valueOf(await metrics(), 'marketpulse_exports_total', { kind: 'customers', outcome: 'failed' })).toBe(1);
  }, 60_000);
});
