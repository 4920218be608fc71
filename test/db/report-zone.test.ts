import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ChangeListener } from '../../src/changes/change-listener.js';
import type { DatabaseHandle } from '../../src/db/database-handle.js';
import { ReportZoneCheck } from '../../src/db/report-zone.js';
import { readDatabaseReportZone, rezoneRollups } from '../../src/db/rollups.js';
import { seedDatabase } from '../../src/seed/seed-database.js';
import { describeWhereAvailable } from '../support/availability.js';
import { compiledEntry } from '../support/built.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { environmentWithoutConfig, startGatewayProcess, type GatewayProcess } from '../support/gateway-process.js';
import { pgbouncerUnavailable, startPgBouncer, type PgBouncer } from '../support/pgbouncer.js';
import { has } from '../support/requirements.js';
import {
  DASHBOARD_TOTALS,
  Received,
  connect,
  eventually as eventuallyTrue,
  insertTransaction,
  seedCatalogue,
  sleep,
  startLiveGateway,
  type LiveGateway,
  type TotalsMessage,
} from '../subscriptions/subscription-fixtures.js';

// Answers are read field by field.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type JsonBody = Record<string, any>;

// The report zone is the database's: a gateway never changes it, a gateway of another zone refuses to serve
// (and says why), and a re-zone keeps readers waiting only for a moment.

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DASHBOARD = '{ dashboard(to: "2025-03-28") { totalRevenue recentTrend(days: 2) { date totalRevenue } } }';
// 2025-03-27T22:30Z is the 27th in UTC and the 28th in Asia/Jerusalem (UTC+2 that night).
const SALE_AT = '2025-03-27T22:30:00Z';

async function addSale(db: DatabaseHandle['db']): Promise<void> {
  await sql`INSERT INTO customers (id, name, created_at) VALUES (1, 'לקוח', now())`.execute(db);
  await sql`INSERT INTO products (id, sku, name, category, unit_price) VALUES (1, 'SKU-1', 'מוצר', 'בדיקות', 40)`.execute(
    db,
  );
  await sql`INSERT INTO transactions VALUES (1, 1, 1, 1, 40.00, 'completed', ${SALE_AT})`.execute(db);
}

/** The trend's two days as a gateway in `zone` must report them. */
function trendIn(zone: 'UTC' | 'Asia/Jerusalem') {
  return zone === 'UTC'
    ? [
        { date: '2025-03-27', totalRevenue: '40.00' },
        { date: '2025-03-28', totalRevenue: '0.00' },
      ]
    : [
        { date: '2025-03-27', totalRevenue: '0.00' },
        { date: '2025-03-28', totalRevenue: '40.00' },
      ];
}

async function graphql(gateway: GatewayProcess) {
  const response = await fetch(`${gateway.base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: DASHBOARD }),
  });
  return {
    status: response.status,
    retryAfter: response.headers.get('retry-after'),
    body: (await response.json()) as JsonBody,
  };
}

async function readiness(gateway: GatewayProcess) {
  const response = await fetch(`${gateway.base}/readyz`);
  return { status: response.status, body: (await response.json()) as JsonBody };
}

async function eventually<T>(probe: () => Promise<T>, accept: (value: T) => boolean, withinMs = 10_000): Promise<T> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const value = await probe();
    if (accept(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Runs a compiled command (`src/cli/rollups.ts`, ...) with only `env` of the gateway's variables. */
function runCommand(
  source: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [...compiledEntry(source), ...args], {
    cwd: ROOT,
    env: { ...environmentWithoutConfig(), ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

interface Wiring {
  name: string;
  unavailable: string | undefined;
  /** What the gateways and commands are started with to reach `database`. */
  env(database: TestDatabase): Record<string, string>;
  /** What an operator does after a re-zone, behind this wiring. */
  afterRezone(): Promise<void>;
}

let bouncer: PgBouncer | undefined;
const wirings: Wiring[] = [
  {
    name: 'directly',
    unavailable: undefined,
    env: (database) => ({ DATABASE_URL: database.url! }),
    afterRezone: async () => undefined,
  },
  {
    name: 'through PgBouncer in transaction mode',
    unavailable: pgbouncerUnavailable(),
    env: (database) => ({
      DATABASE_URL: bouncer!.url(new URL(database.url!).pathname.slice(1)),
      DATABASE_DIRECT_URL: database.url!,
      PG_PREPARED_STATEMENTS: 'false',
    }),
    // PgBouncer's server sessions started before the re-zone keep the old zone: they are replaced once released.
    afterRezone: async () => {
      await bouncer!.admin('RECONNECT');
    },
  },
];

describe.runIf(has('postgres-server', 'starting gateway processes on one database'))(
  'two gateway processes on one database, in different report zones',
  () => {
    for (const wiring of wirings) {
      describeWhereAvailable(wiring.unavailable)(wiring.name, () => {
        let database: TestDatabase;
        let jerusalem: GatewayProcess;
        let utc: GatewayProcess;
        let rebuiltAt: string;

        beforeAll(async () => {
          database = await createTestDatabase({ reportTimezone: 'Asia/Jerusalem' });
          await addSale(database.handle.db);
          if (wiring.name !== 'directly')
            bouncer = await startPgBouncer({ server: inject('databaseUrl'), poolSize: 3 });
          rebuiltAt = (
            await sql<{ at: string }>`SELECT rebuilt_at::text AS at FROM rollup_state`.execute(database.handle.db)
          ).rows[0]!.at;
          const common = { ...wiring.env(database), NODE_ENV: 'production', CACHE_TTL_SECONDS: '0' };
          [jerusalem, utc] = await Promise.all([
            startGatewayProcess({ ...common, REPORT_TIMEZONE: 'Asia/Jerusalem' }),
            startGatewayProcess({ ...common, REPORT_TIMEZONE: 'UTC' }),
          ]);
        });

        afterAll(async () => {
          await Promise.all([jerusalem?.kill(), utc?.kill()]);
          await bouncer?.stop();
          bouncer = undefined;
          await database?.drop();
        });

        it('leaves the rollups as they were: a gateway never rebuilds them', async () => {
          const { rows } = await sql<{
            zone: string;
            at: string;
          }>`SELECT timezone AS zone, rebuilt_at::text AS at FROM rollup_state`.execute(database.handle.db);
          expect(rows).toEqual([{ zone: 'Asia/Jerusalem', at: rebuiltAt }]);
        });

        it("serves from the gateway in the database's zone, with its days", async () => {
          expect(await readiness(jerusalem)).toMatchObject({ status: 200, body: { status: 'ready' } });
          const answer = await graphql(jerusalem);
          expect(answer.body.errors).toBeUndefined();
          expect(answer.body.data).toEqual({
            dashboard: { totalRevenue: '40.00', recentTrend: trendIn('Asia/Jerusalem') },
          });
        });

        it('keeps the other not ready and refusing GraphQL, saying why in its log and in the probe', async () => {
          const reason =
            'REPORT_TIMEZONE is UTC, but the database reports in Asia/Jerusalem: restart this gateway with REPORT_TIMEZONE=Asia/Jerusalem, or re-zone the database with `npm run rollups -- --timezone UTC`';
          expect(await readiness(utc)).toEqual({
            status: 503,
            body: {
              status: 'unavailable',
              database: 'up',
              migrations: 'current',
              reportTimezone: { gateway: 'UTC', database: 'Asia/Jerusalem', sessions: 'Asia/Jerusalem' },
              reason,
              cache: 'memory',
            },
          });
          expect(utc.logs.some((entry) => entry.level === 50 && entry.msg === `not serving: ${reason}`)).toBe(true);
          const answer = await graphql(utc);
          expect(answer.status).toBe(503);
          expect(answer.retryAfter).toBe('5');
          expect(answer.body.errors).toEqual([
            {
              message: `This gateway does not serve reports now: ${reason}`,
              extensions: { code: 'SERVICE_UNAVAILABLE', requestId: expect.any(String) },
            },
          ]);
        });

        it('swaps the two once the database is re-zoned with npm run rollups, without restarting either', async () => {
          const command = await runCommand('src/cli/rollups.ts', ['--timezone', 'UTC'], {
            DATABASE_URL: wiring.env(database).DATABASE_DIRECT_URL ?? database.url!,
          });
          expect(command).toMatchObject({ code: 0, stderr: '' });
          expect(command.stdout).toMatch(
            /rebuilt the rollups of .* for report days in UTC \(they held Asia\/Jerusalem\)/,
          );
          await wiring.afterRezone();

          // The re-zone announces itself on the change feed: the Jerusalem gateway stops at once.
          const refused = await eventually(
            () => graphql(jerusalem),
            (answer) => answer.status === 503,
            2_000,
          );
          expect(refused.body.errors?.[0]).toMatchObject({ extensions: { code: 'SERVICE_UNAVAILABLE' } });
          expect(refused.body.errors[0].message).toContain(
            'REPORT_TIMEZONE is Asia/Jerusalem, but the database reports in UTC',
          );
          expect((await readiness(jerusalem)).status).toBe(503);

          const served = await eventually(
            () => graphql(utc),
            (answer) => answer.status === 200,
            5_000,
          );
          expect(served.body.errors).toBeUndefined();
          expect(served.body.data).toEqual({ dashboard: { totalRevenue: '40.00', recentTrend: trendIn('UTC') } });
          expect((await readiness(utc)).body).toMatchObject({ status: 'ready' });
        });
      });
    }
  },
);

// Readers of the reporting views during a rebuild, in place (TRUNCATE and refill) and by mp_rezone_rollups.
describe.runIf(has('postgres-server', 'reading from one session while another re-zones'))(
  'a re-zone under readers',
  () => {
    let database: TestDatabase;
    let rebuilding: DatabaseHandle;

    beforeAll(async () => {
      database = await createTestDatabase();
      await seedDatabase(database.handle.db, { transactions: 80_000, seed: 3, until: '2025-06-30', days: 365 });
      rebuilding = await database.reopen({ poolMax: 1, statementTimeoutMs: 0, reportTimezone: undefined });
    });

    afterAll(async () => {
      await rebuilding?.close();
      await database?.drop();
    });

    /** Runs `rebuild` while a reader loops over the dashboard's views; the rebuild's duration and the slowest read. */
    async function underReaders(
      rebuild: () => Promise<unknown>,
    ): Promise<{ rebuildMs: number; slowestReadMs: number; reads: number }> {
      const reader = await database.reopen({ poolMax: 1, reportTimezone: undefined });
      let reading = true;
      let slowestReadMs = 0;
      let reads = 0;
      const loop = (async () => {
        while (reading) {
          const started = performance.now();
          await sql`SELECT sum(revenue) FROM v_daily_revenue`.execute(reader.db).catch(() => undefined);
          slowestReadMs = Math.max(slowestReadMs, performance.now() - started);
          reads += 1;
        }
      })();
      await new Promise((resolve) => setTimeout(resolve, 100));
      const started = performance.now();
      await rebuild();
      const rebuildMs = performance.now() - started;
      await new Promise((resolve) => setTimeout(resolve, 100));
      reading = false;
      await loop;
      await reader.close();
      return { rebuildMs, slowestReadMs, reads };
    }

    it('keeps them waiting for the whole rebuild when it is done in place', async () => {
      const { rebuildMs, slowestReadMs } = await underReaders(() =>
        rebuilding.db.transaction().execute((trx) => sql`SELECT mp_rebuild_rollups('UTC')`.execute(trx)),
      );
      expect(slowestReadMs, `rebuild ${Math.round(rebuildMs)} ms`).toBeGreaterThan(rebuildMs * 0.5);
    });

    it('keeps them waiting only for the swap when the rollups are built beside the old ones', async () => {
      let exclusiveMs = 0;
      const { rebuildMs, slowestReadMs, reads } = await underReaders(async () => {
        ({ exclusiveMs } = await rezoneRollups(rebuilding.db, 'Asia/Jerusalem'));
      });
      const measured = `rebuild ${Math.round(rebuildMs)} ms, slowest read ${Math.round(slowestReadMs)} ms, swap ${Math.round(exclusiveMs)} ms, ${reads} reads`;
      expect(rebuildMs, measured).toBeGreaterThan(300);
      expect(slowestReadMs, measured).toBeLessThan(Math.max(rebuildMs * 0.25, 100));
      // Sessions that began before the re-zone refuse to count days (MP001); new ones report in the new zone.
      const fresh = await database.reopen({ reportTimezone: undefined, poolMax: 1 });
      expect((await sql<{ zone: string }>`SELECT mp_report_timezone() AS zone`.execute(fresh.db)).rows).toEqual([
        { zone: 'Asia/Jerusalem' },
      ]);
    });
  },
);

describe.runIf(has('postgres-server', 'running the commands on a database by URL'))(
  'npm run migrate and npm run rollups',
  () => {
    let database: TestDatabase;
    let admin: DatabaseHandle;
    const name = `mp_test_fresh_${process.pid}`;
    const freshUrl = () => {
      const url = new URL(inject('databaseUrl'));
      url.pathname = `/${name}`;
      return url.toString();
    };

    beforeAll(async () => {
      database = await createTestDatabase();
      admin = database.handle;
      await sql.raw(`DROP DATABASE IF EXISTS ${name}`).execute(admin.db);
      await sql.raw(`CREATE DATABASE ${name}`).execute(admin.db);
    });

    afterAll(async () => {
      await sql
        .raw(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
        .execute(admin.db)
        .catch(() => undefined);
      await database?.drop();
    });

    it('builds a fresh database in REPORT_TIMEZONE, and leaves a migrated one in its zone, saying how to change it', async () => {
      const first = await runCommand('src/cli/migrate.ts', [], {
        DATABASE_URL: freshUrl(),
        REPORT_TIMEZONE: 'Asia/Jerusalem',
      });
      expect(first).toMatchObject({ code: 0, stderr: '' });
      expect(first.stdout).toContain('the database reports days in Asia/Jerusalem');

      const again = await runCommand('src/cli/migrate.ts', [], { DATABASE_URL: freshUrl(), REPORT_TIMEZONE: 'UTC' });
      expect(again).toMatchObject({ code: 0, stderr: '' });
      expect(again.stdout).toContain('database is up to date');
      expect(again.stdout).toContain('the database reports days in Asia/Jerusalem');
      expect(again.stdout).toContain(
        'note: REPORT_TIMEZONE=UTC is not applied to a migrated database; re-zone it with `npm run rollups -- --timezone UTC`',
      );

      const status = await runCommand('src/cli/rollups.ts', [], { DATABASE_URL: freshUrl() });
      expect(status).toMatchObject({ code: 0, stderr: '' });
      expect(status.stdout).toMatch(/reports days in Asia\/Jerusalem\n$/);
    });

    it('gives the sessions their zone back after it was lost, as in a restore', async () => {
      await sql.raw(`ALTER DATABASE ${name} RESET marketpulse.report_timezone`).execute(admin.db);
      const lost = await runCommand('src/cli/rollups.ts', [], { DATABASE_URL: freshUrl() });
      expect(lost.stdout).toContain('its sessions default to (none): run npm run migrate to set it again');
      const migrated = await runCommand('src/cli/migrate.ts', [], { DATABASE_URL: freshUrl() });
      expect(migrated.stdout).toContain('the database reports days in Asia/Jerusalem');
      expect((await runCommand('src/cli/rollups.ts', [], { DATABASE_URL: freshUrl() })).stdout).not.toContain(
        'sessions default',
      );
    });

    it('refuses an unknown zone and a database that is not migrated, with usage errors', async () => {
      const unknown = await runCommand('src/cli/rollups.ts', ['--timezone', 'Mars/Olympus'], {
        DATABASE_URL: freshUrl(),
      });
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toContain(
        "rollups: --timezone must be an IANA time zone name such as UTC or Asia/Jerusalem, got 'Mars/Olympus'",
      );
      const bare = await runCommand('src/cli/rollups.ts', ['--timezone', 'UTC'], {
        DATABASE_URL: inject('databaseUrl'),
      });
      expect(bare.code).toBe(1);
      expect(bare.stderr).toMatch(/is not migrated; run `npm run migrate` first/);
      const nowhere = await runCommand('src/cli/rollups.ts', ['--timezone', 'UTC'], {});
      expect(nowhere.code).toBe(2);
    });
  },
);

// Subscriptions are held to the same rule as requests: refused while the zones differ. A live query that a
// re-zone recomputes gets an error, so its subscribers keep the figures they have, as during an outage, rather
// than get figures in another zone's days.
describe.runIf(has('postgres-server', 're-zoning on a session of its own under a live gateway'))(
  'subscriptions on a gateway whose zone the database leaves',
  () => {
    let database: TestDatabase;
    let gateway: LiveGateway;
    let zone: ReportZoneCheck;
    const clients: { dispose(): void }[] = [];

    beforeAll(async () => {
      database = await createTestDatabase({ reportTimezone: 'Asia/Jerusalem' });
      await seedCatalogue(database.handle);
      await insertTransaction(database.handle, { amount: '100.00', date: '2025-03-05T10:00:00Z' });
      const handle = await database.reopen();
      zone = new ReportZoneCheck('Asia/Jerusalem', () => readDatabaseReportZone(handle.db), {
        info: () => undefined,
        error: () => undefined,
      });
      await zone.check();
      const changes = await ChangeListener.start(handle, {
        debug: () => undefined,
        info: () => undefined,
        warn: () => undefined,
      });
      changes.onReportZone((announced) => (announced === undefined ? void zone.check() : zone.announced(announced)));
      gateway = await startLiveGateway(handle, {}, { reportZone: zone }, changes);
    });

    afterAll(async () => {
      for (const client of clients) client.dispose();
      await gateway?.close();
      await database?.drop();
    });

    function subscribe() {
      const client = connect(gateway.url);
      clients.push(client);
      return new Received<TotalsMessage>(client, DASHBOARD_TOTALS, { from: '2025-03-01', to: '2025-03-31' });
    }

    it('pushes no figures of the new zone once the database is re-zoned away, and refuses new subscriptions', async () => {
      const held = subscribe();
      await held.waitForResults(1);
      expect(held.last!.dashboardUpdated.totalRevenue).toBe('100.00');

      const recomputed = gateway.subscriptions.stats.recomputations;
      await rezoneRollups((await database.reopen({ poolMax: 1, statementTimeoutMs: 0 })).db, 'UTC');
      await insertTransaction(database.handle, { amount: '5.00', date: '2025-03-06T10:00:00Z' });
      await eventuallyTrue(
        () => gateway.subscriptions.stats.recomputations >= recomputed + 1,
        5_000,
        'a recomputation',
      );
      await sleep(500);
      expect(held.results).toHaveLength(1);
      expect(zone.refusal).toContain('REPORT_TIMEZONE is Asia/Jerusalem, but the database reports in UTC');

      const refused = subscribe();
      await refused.ended();
      expect(refused.errors).toEqual([
        expect.objectContaining({
          message: expect.stringContaining(
            'This gateway does not serve reports now: REPORT_TIMEZONE is Asia/Jerusalem',
          ),
          extensions: expect.objectContaining({ code: 'SERVICE_UNAVAILABLE' }),
        }),
      ]);
    });
  },
);
