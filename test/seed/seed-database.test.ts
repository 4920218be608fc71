import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { sql, type Kysely, type RawBuilder } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSeedCommand, type CommandOutput } from '../../src/cli/seed.js';
import type { Database } from '../../src/db/database.js';
import { CATALOGUE } from '../../src/seed/catalogue.js';
import { isDatabaseEmpty, seedDatabase } from '../../src/seed/seed-database.js';
import {
  resolveSeedOptions,
  SeedOptionsError,
  type SeedOptions,
  type SeedSummary,
} from '../../src/seed/seed-options.js';
import { compiledEntry } from '../support/built.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

const OPTIONS = { transactions: 5_000, seed: 42, until: '2025-06-30' } satisfies SeedOptions;
const FROM = '2024-07-01';
const HEBREW = /\p{Script=Hebrew}/u;

/** One md5 per table over every column of every row in id order, computed by PostgreSQL. */
async function fingerprint(db: Kysely<Database>): Promise<string> {
  const { rows } = await sql<{ fingerprint: string }>`
    SELECT concat_ws(' ',
      (SELECT md5(string_agg(c::text, '|' ORDER BY c.id)) FROM customers c),
      (SELECT md5(string_agg(p::text, '|' ORDER BY p.id)) FROM products p),
      (SELECT md5(string_agg(t::text, '|' ORDER BY t.id)) FROM transactions t)) AS fingerprint`.execute(db);
  return rows[0]!.fingerprint;
}

async function one<T>(db: Kysely<Database>, query: RawBuilder<T>): Promise<T> {
  const { rows } = await query.execute(db);
  return rows[0]!;
}

describe('seedDatabase', () => {
  let first: TestDatabase;
  let second: TestDatabase | undefined;
  let summary: SeedSummary;
  let db: Kysely<Database>;

  beforeAll(async () => {
    first = await createTestDatabase();
    db = first.handle.db;
    summary = await seedDatabase(db, OPTIONS);
  });

  afterAll(async () => {
    await second?.drop();
    await first?.drop();
  });

  it('writes the requested numbers of rows with ids 1..N and reports them', async () => {
    expect(summary).toMatchObject({
      customers: 250,
      products: 48,
      transactions: 5_000,
      from: FROM,
      until: '2025-06-30',
    });
    const counts = await one(
      db,
      sql<Record<string, string>>`
        SELECT (SELECT count(*) FROM customers) AS customers, (SELECT max(id) FROM customers) AS customer_max,
               (SELECT count(*) FROM products) AS products, (SELECT max(id) FROM products) AS product_max,
               (SELECT count(*) FROM transactions) AS transactions, (SELECT max(id) FROM transactions) AS transaction_max`,
    );
    expect(counts).toEqual({
      customers: '250',
      customer_max: '250',
      products: '48',
      product_max: '48',
      transactions: '5000',
      transaction_max: '5000',
    });
  });

  it('gives identical data for the same seed and until', async () => {
    second = await createTestDatabase();
    await seedDatabase(second.handle.db, OPTIONS);
    expect(await fingerprint(second.handle.db)).toBe(await fingerprint(db));
  });

  it('gives different data for a different seed', async () => {
    second ??= await createTestDatabase();
    await seedDatabase(second.handle.db, { ...OPTIONS, seed: 7, reset: true });
    const [ours, theirs] = [await fingerprint(db), await fingerprint(second.handle.db)];
    // Products are the same catalogue slice; customers and transactions differ.
    expect(theirs.split(' ')[0]).not.toBe(ours.split(' ')[0]);
    expect(theirs.split(' ')[2]).not.toBe(ours.split(' ')[2]);
  });

  it('honours explicit customers, products and days', async () => {
    const other = await createTestDatabase();
    try {
      const result = await seedDatabase(other.handle.db, { ...OPTIONS, customers: 77, products: 9, days: 30 });
      expect(result).toMatchObject({ customers: 77, products: 9, from: '2025-06-01', until: '2025-06-30' });
      const row = await one(
        other.handle.db,
        sql<Record<string, string>>`
          SELECT (SELECT count(*) FROM customers) AS customers, (SELECT count(*) FROM products) AS products,
                 (SELECT count(DISTINCT category) FROM products) AS categories,
                 (SELECT min(transaction_date)::date::text FROM transactions) AS first_day`,
      );
      // The first products rotate through the categories, so even 9 of them cover all 8.
      expect(row).toEqual({ customers: '77', products: '9', categories: '8', first_day: '2025-06-01' });
    } finally {
      await other.drop();
    }
  });

  it('stores amount as quantity × unit price, to the cent, on every row', async () => {
    const row = await one(
      db,
      sql<{ wrong: string; unscaled: string }>`
        SELECT count(*) FILTER (WHERE t.amount <> t.quantity * p.unit_price) AS wrong,
               count(*) FILTER (WHERE scale(t.amount) <> 2) AS unscaled
        FROM transactions t JOIN products p ON p.id = t.product_id`,
    );
    expect(row).toEqual({ wrong: '0', unscaled: '0' });
  });

  it('dates every transaction within the days ending at until, at whole seconds', async () => {
    const row = await one(
      db,
      sql<{ first_day: string; last_day: string; fractional: string }>`
        SELECT min(transaction_date AT TIME ZONE 'UTC')::date::text AS first_day,
               max(transaction_date AT TIME ZONE 'UTC')::date::text AS last_day,
               count(*) FILTER (WHERE extract(microseconds FROM transaction_date) % 1000000 <> 0) AS fractional
        FROM transactions`,
    );
    expect(row.first_day >= FROM).toBe(true);
    expect(row.last_day <= '2025-06-30').toBe(true);
    expect(row.fractional).toBe('0');
  });

  it('numbers transactions in time order and busies office hours more than nights', async () => {
    const row = await one(
      db,
      sql<{ out_of_order: string; office: string; night: string }>`
        SELECT (SELECT count(*) FROM transactions a JOIN transactions b ON b.id = a.id + 1
                WHERE b.transaction_date < a.transaction_date) AS out_of_order,
               count(*) FILTER (WHERE extract(hour FROM transaction_date) BETWEEN 6 AND 14) AS office,
               count(*) FILTER (WHERE extract(hour FROM transaction_date) NOT BETWEEN 4 AND 18) AS night
        FROM transactions`,
    );
    expect(row.out_of_order).toBe('0');
    expect(Number(row.office)).toBeGreaterThan(5 * Number(row.night));
  });

  it('creates every customer before their first purchase', async () => {
    const row = await one(
      db,
      sql<{ early: string }>`
        SELECT count(*) AS early FROM transactions t JOIN customers c ON c.id = t.customer_id
        WHERE t.transaction_date < c.created_at`,
    );
    expect(row.early).toBe('0');
  });

  it('mixes statuses about 85/10/5 with pending concentrated in the last days', async () => {
    const row = await one(
      db,
      sql<Record<'completed' | 'pending' | 'cancelled' | 'recent_pending', number>>`
        SELECT avg((status = 'completed')::int)::float8 AS completed,
               avg((status = 'pending')::int)::float8 AS pending,
               avg((status = 'cancelled')::int)::float8 AS cancelled,
               avg((status = 'pending')::int) FILTER (WHERE transaction_date >= timestamptz '2025-06-24')::float8
                 AS recent_pending
        FROM transactions`,
    );
    expect(row.completed).toBeGreaterThan(0.8);
    expect(row.completed).toBeLessThan(0.9);
    expect(row.pending).toBeGreaterThan(0.07);
    expect(row.pending).toBeLessThan(0.13);
    expect(row.cancelled).toBeGreaterThan(0.03);
    expect(row.cancelled).toBeLessThan(0.07);
    expect(row.recent_pending).toBeGreaterThan(3 * row.pending);
  });

  it('leaves some customers without transactions and lets big accounts buy the most', async () => {
    const row = await one(
      db,
      sql<{ idle: string; top_share: number }>`
        WITH per_customer AS (
          SELECT c.id, count(t.id) AS n FROM customers c LEFT JOIN transactions t ON t.customer_id = c.id GROUP BY c.id
        ), ranked AS (
          SELECT n, ntile(10) OVER (ORDER BY n DESC, id) AS decile FROM per_customer
        )
        SELECT count(*) FILTER (WHERE n = 0) AS idle,
               (sum(n) FILTER (WHERE decile = 1) / sum(n))::float8 AS top_share
        FROM ranked`,
    );
    expect(Number(row.idle)).toBeGreaterThanOrEqual(Math.round(250 * 0.05));
    expect(Number(row.idle)).toBeLessThan(250 * 0.2);
    expect(row.top_share).toBeGreaterThan(0.3);
  });

  it('writes Hebrew names for products and customers, and ASCII emails', async () => {
    const { rows } = await sql<{ name: string; email: string | null }>`
      SELECT name, NULL AS email FROM products UNION ALL SELECT name, email FROM customers`.execute(db);
    for (const { name, email } of rows) {
      expect(name).toMatch(HEBREW);
      if (email !== null) expect(email).toMatch(/^[a-z]+\.\d+@example\.co\.il$/);
    }
    const distinct = await one(db, sql<{ names: string }>`SELECT count(DISTINCT name) AS names FROM customers`);
    expect(distinct.names).toBe('250');
  });

  it('refuses a database that already holds data unless asked to reset', async () => {
    const before = await fingerprint(db);
    await expect(seedDatabase(db, OPTIONS)).rejects.toThrow(/already holds/);
    expect(await fingerprint(db)).toBe(before);
    expect(await isDatabaseEmpty(db)).toBe(false);
  });

  it('rejects invalid options, naming every one of them', () => {
    const attempt = () => resolveSeedOptions({ transactions: 0, products: 999, days: 1.5, until: '2025-02-30' });
    expect(attempt).toThrow(SeedOptionsError);
    try {
      attempt();
    } catch (error) {
      const problems = (error as SeedOptionsError).problems.join('\n');
      for (const name of ['transactions', 'products', 'days', 'until']) expect(problems).toContain(name);
    }
  });
});

describe('catalogue', () => {
  it('has at least 40 products in at least 6 categories with distinct Hebrew names', () => {
    expect(CATALOGUE.length).toBeGreaterThanOrEqual(40);
    expect(new Set(CATALOGUE.map((product) => product.category)).size).toBeGreaterThanOrEqual(6);
    expect(new Set(CATALOGUE.map((product) => product.name)).size).toBe(CATALOGUE.length);
    expect(new Set(CATALOGUE.map((product) => product.sku)).size).toBe(CATALOGUE.length);
    for (const product of CATALOGUE) {
      expect(product.name).toMatch(HEBREW);
      expect(product.category).toMatch(HEBREW);
      expect(product.sku).toMatch(/^[A-Z]{3}-\d{3}$/);
      expect(Number.isInteger(product.unitPriceCents) && product.unitPriceCents > 0).toBe(true);
    }
  });
});

describe('seed command', () => {
  const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
  let target: TestDatabase;

  beforeAll(async () => {
    target = await createTestDatabase();
    await seedDatabase(target.handle.db, { transactions: 1_000, until: '2025-06-30' });
  });

  afterAll(async () => {
    await target?.drop();
  });

  interface Outcome {
    code: number;
    stdout: string;
    stderr: string;
  }

  /**
   * Runs the command as `npm run seed` does when the database has a URL. The embedded PGlite has none, so
   * there the same command function runs in-process on the test's own handle.
   */
  async function seedCommand(args: string[]): Promise<Outcome> {
    if (target.url === undefined) {
      const lines = { stdout: [] as string[], stderr: [] as string[] };
      const output: CommandOutput = { out: (line) => lines.stdout.push(line), err: (line) => lines.stderr.push(line) };
      const handle = { ...target.handle, close: async () => undefined };
      const code = await runSeedCommand(args, { databaseUrl: 'embedded' }, output, () => handle);
      return { code, stdout: lines.stdout.join('\n'), stderr: lines.stderr.join('\n') };
    }
    const child = spawn(process.execPath, [...compiledEntry('src/cli/seed.ts'), ...args], {
      cwd: repoRoot,
      env: { ...process.env, DATABASE_URL: target.url, REPORT_TIMEZONE: 'UTC' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (exitCode) => resolve(exitCode ?? -1));
    });
    return { code, stdout, stderr };
  }

  it('fails on a database that holds data without --reset, and leaves it unchanged', { timeout: 60_000 }, async () => {
    const before = await fingerprint(target.handle.db);
    const outcome = await seedCommand(['--transactions', '500']);
    expect(outcome.code).toBe(1);
    expect(outcome.stderr).toContain('--reset');
    expect(await fingerprint(target.handle.db)).toBe(before);
  });

  it('leaves a database that holds data unchanged with --if-empty', { timeout: 60_000 }, async () => {
    const before = await fingerprint(target.handle.db);
    const outcome = await seedCommand(['--transactions', '500', '--if-empty']);
    expect(outcome.code).toBe(0);
    expect(outcome.stdout).toContain('--if-empty');
    expect(await fingerprint(target.handle.db)).toBe(before);
  });

  it('replaces the data with --reset and prints a summary', { timeout: 60_000 }, async () => {
    const outcome = await seedCommand(['--reset', '--transactions', '500', '--days', '30', '--until', '2025-06-30']);
    expect(outcome.code).toBe(0);
    expect(outcome.stdout).toMatch(
      /seeded 500 transactions, 50 customers and 48 products from 2025-06-01 to 2025-06-30 in .* rows\/s/,
    );
    const row = await one(target.handle.db, sql<{ n: string }>`SELECT count(*) AS n FROM transactions`);
    expect(row.n).toBe('500');
  });

  it('exits with code 2 and names the problem on invalid arguments', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--transactions', 'lots'], /--transactions must be a positive integer/],
      [['--days', '10'], /--transactions is required/],
      [['--transactions', '10', '--products', '500'], /--products must be an integer from 1 to/],
      [['--transactions', '10', '--until', '2025-13-01'], /--until must be a date/],
      [['--transactions', '10', '--reset', '--if-empty'], /exclude each other/],
      [['--transactions', '10', '--bogus'], /Unknown option '--bogus'/],
    ];
    for (const [args, message] of cases) {
      const lines: string[] = [];
      const output: CommandOutput = { out: (line) => lines.push(line), err: (line) => lines.push(line) };
      const code = await runSeedCommand(args, { databaseUrl: 'postgres://unused' }, output);
      expect(code, args.join(' ')).toBe(2);
      expect(lines.join('\n')).toMatch(message);
    }
  });

  it('exits with code 2 when DATABASE_URL is missing', async () => {
    const lines: string[] = [];
    const output: CommandOutput = { out: (line) => lines.push(line), err: (line) => lines.push(line) };
    const code = await runSeedCommand(['--transactions', '10'], { databaseUrl: undefined }, output);
    expect(code).toBe(2);
    expect(lines.join('\n')).toContain('DATABASE_URL is not set');
  });
});
