import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/config/config.js';
import type { DatabaseHandle } from '../../src/db/database-handle.js';
import { openConfiguredDatabase } from '../../src/app/open-database.js';
import { readDatabaseReportZone } from '../../src/db/rollups.js';
import { startTestGateway } from '../support/gateway.js';

const SEED_TRANSACTIONS = 2_000;
const DASHBOARD = '{ dashboard { totalRevenue totalTransactions } }';
// PGlite's first start on an empty directory runs initdb in WebAssembly: about 12 s on two cores by itself,
// more while other test files share the CPU. The seed itself takes well under a second.
const FIRST_START_TIMEOUT_MS = 90_000;

interface Counts {
  customers: number;
  products: number;
  transactions: number;
  revenue: string;
}

async function readCounts(handle: DatabaseHandle): Promise<Counts> {
  const { rows } = await sql<Counts>`
    SELECT (SELECT count(*) FROM customers)::int AS customers,
           (SELECT count(*) FROM products)::int AS products,
           (SELECT count(*) FROM transactions)::int AS transactions,
           (SELECT coalesce(sum(amount), 0) FROM transactions WHERE status = 'completed')::text AS revenue`.execute(
    handle.db,
  );
  return rows[0]!;
}

/** Opens DATA_DIR as `npm start` does without DATABASE_URL, and collects what it logs. */
async function open(config: Config) {
  const messages: string[] = [];
  const logger = pino(
    { level: 'info' },
    { write: (line: string) => void messages.push((JSON.parse(line) as { msg: string }).msg) },
  );
  const handle = await openConfiguredDatabase(config.database, logger);
  return { handle, messages };
}

describe('the embedded PostgreSQL start path (no DATABASE_URL)', () => {
  let dataDir: string;
  let config: Config;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'marketpulse-embedded-'));
    config = loadConfig({ DATA_DIR: dataDir, EMBEDDED_SEED_TRANSACTIONS: String(SEED_TRANSACTIONS) });
  });

  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  let firstCounts: Counts;

  it(
    'migrates and seeds an empty DATA_DIR, and the gateway serves the dashboard from it',
    async () => {
      expect(config.database.postgres).toBeUndefined();
      const { handle, messages } = await open(config);
      try {
        expect(handle.engine).toBe('pglite');
        expect(messages).toContain('first start: loading demo data');
        firstCounts = await readCounts(handle);
        expect(firstCounts.transactions).toBe(SEED_TRANSACTIONS);
        expect(firstCounts.customers).toBeGreaterThan(0);
        expect(firstCounts.products).toBeGreaterThan(0);

        const gateway = await startTestGateway(handle);
        try {
          const health = await gateway.app.inject({ method: 'GET', url: '/healthz' });
          expect(health.json()).toEqual({ status: 'ok', database: 'up' });
          const ready = await gateway.app.inject({ method: 'GET', url: '/readyz' });
          expect(ready.json()).toEqual({ status: 'ready', database: 'up', migrations: 'current' });

          const { status, body } = await gateway.request<
            { dashboard: { totalRevenue: string; totalTransactions: number } },
            never
          >(DASHBOARD);
          expect(status).toBe(200);
          expect(body.errors).toBeUndefined();
          expect(body.data?.dashboard.totalTransactions).toBe(SEED_TRANSACTIONS);
          expect(body.data?.dashboard.totalRevenue).toMatch(/^\d+\.\d{2}$/);
          expect(Number(body.data?.dashboard.totalRevenue)).toBeGreaterThan(0);
          expect(body.data?.dashboard.totalRevenue).toBe(firstCounts.revenue);
        } finally {
          await gateway.close();
        }
      } finally {
        await handle.close();
      }
    },
    FIRST_START_TIMEOUT_MS,
  );

  it('does not seed again when the same DATA_DIR is opened a second time', async () => {
    expect(firstCounts, 'the first start must have run').toBeDefined();
    const { handle, messages } = await open(config);
    try {
      expect(messages).not.toContain('first start: loading demo data');
      expect(await readCounts(handle)).toEqual(firstCounts);
    } finally {
      await handle.close();
    }
  });

  it('re-zones its own rollups when it starts with another REPORT_TIMEZONE, and reports in it from then on', async () => {
    expect(firstCounts, 'the first start must have run').toBeDefined();
    const { handle, messages } = await open({
      ...config,
      database: { ...config.database, reportTimezone: 'Asia/Jerusalem' },
    });
    try {
      expect(messages).toContain('REPORT_TIMEZONE changed: rebuilt the embedded rollups for the new report days');
      expect(await readDatabaseReportZone(handle.db)).toEqual({
        rollups: 'Asia/Jerusalem',
        sessions: 'Asia/Jerusalem',
      });
      const { rows } = await sql<{ same: boolean }>`
        SELECT (SELECT array_agg(day ORDER BY day) FROM v_daily_revenue)
             = (SELECT array_agg(DISTINCT (transaction_date AT TIME ZONE 'Asia/Jerusalem')::date) FROM transactions) AS same`.execute(
        handle.db,
      );
      expect(rows).toEqual([{ same: true }]);
    } finally {
      await handle.close();
    }
    // Opened again in that zone: its one session reports in it, although PGlite applies no database settings itself.
    const again = await open({ ...config, database: { ...config.database, reportTimezone: 'Asia/Jerusalem' } });
    try {
      expect(again.messages).not.toContain(
        'REPORT_TIMEZONE changed: rebuilt the embedded rollups for the new report days',
      );
      expect((await sql<{ zone: string }>`SELECT mp_report_timezone() AS zone`.execute(again.handle.db)).rows).toEqual([
        { zone: 'Asia/Jerusalem' },
      ]);
    } finally {
      await again.handle.close();
    }
  });
});
