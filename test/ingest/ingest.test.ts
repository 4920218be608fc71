import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { OpenDatabase } from '../../src/cli/command.js';
import { EXIT_FAILED, EXIT_OK, EXIT_REJECTED, EXIT_USAGE, runIngestCommand } from '../../src/cli/ingest.js';
import { readTransactionCsv } from '../../src/ingest/csv-source.js';
import { ingestTransactions } from '../../src/ingest/ingest-transactions.js';
import { ask, dashboard, pollUntil } from '../cache/cache-fixtures.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { openStore, startCachedGateway } from '../support/gateway-with-cache.js';

const HEADER = 'id,customer_id,product_id,quantity,amount,status,transaction_date';

// Customers 1..3 and products 1..2 exist; transaction 500 is stored as pending and re-sent as completed.
const FEED = [
  HEADER,
  '1001,1,1,2,200.00,completed,2025-03-10T12:00:00Z', // line 2: good
  '1002,2,2,1,99.90,pending,2025-03-10T14:00:00+02:00', // line 3: good
  '1003,3,1,1,-5.00,completed,2025-03-11T09:00:00Z', // line 4: negative amount
  '1004,1,2,1,10.005,completed,2025-03-11T09:00:00Z', // line 5: three decimals
  '1005,1,2,0,10.00,completed,2025-03-11T09:00:00Z', // line 6: quantity 0
  '1006,1,2,1,10.00,shipped,2025-03-11T09:00:00Z', // line 7: unknown status
  '1007,1,2,1,10.00,completed,2025-03-11 09:00:00', // line 8: no offset
  '1008,1,2,1,10.00,completed,2025-02-30T09:00:00Z', // line 9: no such day
  'x1009,1,2,1,10.00,completed,2025-03-11T09:00:00Z', // line 10: bad id
  '1010,1,2,1,10.00,completed', // line 11: a field short
  '1011,99,1,1,10.00,completed,2025-03-12T09:00:00Z', // line 12: unknown customer
  '1012,1,77,1,10.00,completed,2025-03-12T09:00:00Z', // line 13: unknown product
  '1001,1,1,2,200.00,completed,2025-03-10T12:00:00Z', // line 14: exact duplicate of line 2
  '500,1,1,3,450.00,completed,2025-01-05T10:00:00Z', // line 15: update of a stored transaction
  '1013,2,1,1,"1,000.00",completed,2025-03-12T09:00:00Z', // line 16: thousands separator
  '1014,3,2,5,0,cancelled,2025-03-13T23:59:59.5-05:00', // line 17: good, zero amount
].join('\n');

const EXPECTED_REJECTED_LINES = [4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 16];

interface StoredRow {
  id: string;
  customer_id: string;
  product_id: string;
  quantity: number;
  amount: string;
  status: string;
  transaction_date: string;
}

describe('npm run ingest', () => {
  let database: TestDatabase;
  let dir: string;
  const out: string[] = [];
  const err: string[] = [];
  const output = { out: (line: string) => out.push(line), err: (line: string) => err.push(line) };

  const rows = async () =>
    (
      await sql<StoredRow>`SELECT id::text, customer_id::text, product_id::text, quantity, amount::text, status,
                                  to_char(transaction_date AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS transaction_date
                           FROM transactions ORDER BY transactions.id`.execute(database.handle.db)
    ).rows;

  async function fileWith(name: string, text: string): Promise<string> {
    const file = path.join(dir, name);
    await writeFile(file, text);
    return file;
  }

  async function ingest(args: string[], stdin?: Readable): Promise<number> {
    out.length = 0;
    err.length = 0;
    // On a server the command connects by URL, as it does in production. The embedded PGlite cannot be opened
    // twice, so there the command is handed the test's own handle, which the test closes rather than the command.
    const borrowed: OpenDatabase = () => ({ ...database.handle, close: async () => undefined });
    const databaseUrl = database.url ?? 'postgres://embedded.invalid/';
    return runIngestCommand(args, { databaseUrl }, output, stdin, database.url ? undefined : borrowed);
  }

  beforeAll(async () => {
    database = await createTestDatabase();
    dir = await mkdtemp(path.join(tmpdir(), 'marketpulse-ingest-'));
    await sql`INSERT INTO customers (id, name, created_at) SELECT n, 'לקוח ' || n, '2024-01-01Z' FROM generate_series(1, 3) n`.execute(
      database.handle.db,
    );
    await sql`INSERT INTO products (id, sku, name, category, unit_price)
              SELECT n, 'SKU-' || n, 'מוצר ' || n, 'בדיקות', 100 FROM generate_series(1, 2) n`.execute(
      database.handle.db,
    );
  });

  beforeEach(async () => {
    await sql`TRUNCATE transactions`.execute(database.handle.db);
    await sql`DELETE FROM customers WHERE id > 3`.execute(database.handle.db);
    await sql`DELETE FROM products WHERE id > 2`.execute(database.handle.db);
    await sql`INSERT INTO transactions (id, customer_id, product_id, quantity, amount, status, transaction_date)
              VALUES (500, 1, 1, 2, 300.00, 'pending', '2025-01-05T10:00:00Z')`.execute(database.handle.db);
  });

  afterAll(async () => {
    await database?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('writes the good rows, refuses each bad one with its line and reason, and updates a re-sent transaction', async () => {
    const code = await ingest([await fileWith('feed.csv', FEED), '--batch-size', '3']);
    expect(code).toBe(EXIT_REJECTED);
    const refused = err.map((line) => Number(/^line (\d+): /.exec(line)?.[1]));
    expect(refused).toEqual(EXPECTED_REJECTED_LINES);
    expect(err.find((line) => line.startsWith('line 4:'))).toMatch(/amount must be a number >= 0.*'-5\.00'/);
    expect(err.find((line) => line.startsWith('line 7:'))).toMatch(
      /status must be one of completed, pending, cancelled/,
    );
    expect(err.find((line) => line.startsWith('line 8:'))).toMatch(/transaction_date must be ISO 8601/);
    expect(err.find((line) => line.startsWith('line 9:'))).toMatch(/transaction_date has no such day/);
    expect(err.find((line) => line.startsWith('line 11:'))).toMatch(/6 fields where the header has 7/);
    expect(err.find((line) => line.startsWith('line 12:'))).toMatch(/customer_id 99 is not a known customer/);
    expect(err.find((line) => line.startsWith('line 13:'))).toMatch(/product_id 77 is not a known product/);
    expect(out.at(-1)).toMatch(/read 16 rows: 11 refused, 3 inserted, 1 updated, 1 unchanged/);

    expect(await rows()).toEqual([
      {
        id: '500',
        customer_id: '1',
        product_id: '1',
        quantity: 3,
        amount: '450.00',
        status: 'completed',
        transaction_date: '2025-01-05T10:00:00.000Z',
      },
      {
        id: '1001',
        customer_id: '1',
        product_id: '1',
        quantity: 2,
        amount: '200.00',
        status: 'completed',
        transaction_date: '2025-03-10T12:00:00.000Z',
      },
      {
        id: '1002',
        customer_id: '2',
        product_id: '2',
        quantity: 1,
        amount: '99.90',
        status: 'pending',
        transaction_date: '2025-03-10T12:00:00.000Z',
      },
      {
        id: '1014',
        customer_id: '3',
        product_id: '2',
        quantity: 5,
        amount: '0.00',
        status: 'cancelled',
        transaction_date: '2025-03-14T04:59:59.500Z',
      },
    ]);
  });

  it('is idempotent: the same feed again duplicates nothing and changes nothing', async () => {
    const file = await fileWith('again.csv', FEED);
    await ingest([file]);
    const first = await rows();
    const code = await ingest([file]);
    expect(code).toBe(EXIT_REJECTED);
    expect(out.at(-1)).toMatch(/0 inserted, 0 updated, 5 unchanged/);
    expect(await rows()).toEqual(first);
  });

  it('with --strict writes nothing when any row is bad', async () => {
    const before = await rows();
    const code = await ingest(['--strict', await fileWith('strict.csv', FEED), '--batch-size', '2']);
    expect(code).toBe(EXIT_REJECTED);
    expect(err.map((line) => Number(/^line (\d+): /.exec(line)?.[1]))).toEqual(EXPECTED_REJECTED_LINES);
    expect(out.at(-1)).toMatch(/--strict: nothing was written/);
    expect(await rows()).toEqual(before);
  });

  it('with --strict writes everything when every row is good, unknown ids included', async () => {
    const good = [
      HEADER,
      '2001,1,1,1,10.00,completed,2025-04-01T00:00:00Z',
      '2002,2,2,2,20.00,pending,2025-04-02T00:00:00Z',
      '500,1,1,2,300.00,cancelled,2025-01-05T10:00:00Z',
    ];
    expect(await ingest(['--strict', await fileWith('strict-good.csv', good.join('\n'))])).toBe(EXIT_OK);
    expect((await rows()).map((r) => `${r.id}:${r.status}`)).toEqual([
      '500:cancelled',
      '2001:completed',
      '2002:pending',
    ]);

    const unknown = [
      HEADER,
      '2003,1,1,1,10.00,completed,2025-04-01T00:00:00Z',
      '2004,42,1,1,10.00,completed,2025-04-01T00:00:00Z',
    ];
    expect(await ingest(['--strict', await fileWith('strict-unknown.csv', unknown.join('\n'))])).toBe(EXIT_REJECTED);
    expect(err).toEqual([expect.stringMatching(/^line 3: customer_id 42 is not a known customer/)]);
    expect((await rows()).map((r) => r.id)).toEqual(['500', '2001', '2002']);
  });

  it('with --create-missing makes placeholder customers and products', async () => {
    const feed = [
      HEADER,
      '3001,42,1,1,10.00,completed,2025-04-01T00:00:00Z',
      '3002,1,77,1,10.00,completed,2025-04-01T00:00:00Z',
    ];
    expect(await ingest(['--create-missing', await fileWith('missing.csv', feed.join('\n'))])).toBe(EXIT_OK);
    expect(out.at(-1)).toMatch(/created 1 placeholder customers and 1 placeholder products/);
    const { rows: made } = await sql<{ customer: string; product: string }>`
      SELECT (SELECT name FROM customers WHERE id = 42) AS customer, (SELECT sku FROM products WHERE id = 77) AS product`.execute(
      database.handle.db,
    );
    expect(made[0]).toEqual({ customer: 'Unknown customer 42', product: 'UNKNOWN-77' });
    expect((await rows()).map((r) => r.id)).toEqual(['500', '3001', '3002']);
  });

  it('reads standard input', async () => {
    const feed = [HEADER, '4001,1,1,1,10.00,completed,2025-04-01T00:00:00Z'].join('\r\n');
    expect(await ingest(['-'], Readable.from([feed]))).toBe(EXIT_OK);
    expect(out[0]).toBe('batch 1: lines 2-2, 1 row(s) committed');
    expect((await rows()).map((r) => r.id)).toEqual(['500', '4001']);
  });

  it('refuses a file without the expected header, writing nothing', async () => {
    expect(await ingest([await fileWith('no-header.csv', '1,1,1,1,10.00,completed,2025-04-01T00:00:00Z\n')])).toBe(
      EXIT_USAGE,
    );
    expect(err.join('\n')).toMatch(/the header must name the columns/);
    expect(await ingest([path.join(dir, 'does-not-exist.csv')])).toBe(EXIT_USAGE);
    expect((await rows()).map((r) => r.id)).toEqual(['500']);
  });

  it('keeps the rollups and the change feed in step with the new rows', async () => {
    const {
      rows: [before],
    } = await sql<{ version: string }>`SELECT mp_data_version()::text AS version`.execute(database.handle.db);
    await ingest([await fileWith('rollups.csv', FEED), '--batch-size', '2']);
    const {
      rows: [after],
    } = await sql<{ version: string }>`SELECT mp_data_version()::text AS version`.execute(database.handle.db);
    expect(BigInt(after!.version)).toBeGreaterThan(BigInt(before!.version));
    const { rows: sums } = await sql<{ rollup: string; base: string; counted: string; stored: string }>`
      SELECT (SELECT coalesce(sum(revenue), 0)::text FROM rollup_daily) AS rollup,
             (SELECT coalesce(sum(amount), 0)::text FROM transactions WHERE status = 'completed') AS base,
             (SELECT sum(completed_count + pending_count + cancelled_count)::text FROM rollup_daily) AS counted,
             (SELECT count(*)::text FROM transactions) AS stored`.execute(database.handle.db);
    expect(sums[0]).toEqual({ rollup: '650.00', base: '650.00', counted: '4', stored: '4' });
  });

  it('makes cached answers stale: the next answer includes the new rows', async () => {
    const gateway = await startCachedGateway(database.handle, openStore('memory', 'ingest:'));
    try {
      const query = dashboard();
      expect((await ask(gateway, query)).body.data?.dashboard.totalTransactions).toBe(1);
      expect((await ask(gateway, query)).cache?.hit).toBe(true);
      const feed = [
        HEADER,
        '5001,1,1,1,10.00,completed,2025-04-01T00:00:00Z',
        '5002,2,1,1,10.00,completed,2025-04-01T00:00:00Z',
      ];
      expect(await ingest([await fileWith('fresh.csv', feed.join('\n'))])).toBe(EXIT_OK);
      const { answer } = await pollUntil(
        () => ask(gateway, query),
        (a) => a.body.data?.dashboard.totalTransactions === 3,
        5_000,
      );
      expect(answer.body.data?.dashboard.totalTransactions).toBe(3);
      expect(answer.cache?.hit).toBe(false);
    } finally {
      await gateway.close();
    }
  });

  it('leaves whole batches only when a batch fails at the database', async () => {
    // Transaction 2005 is refused by PostgreSQL itself, in the third batch of two rows.
    await database.handle.runScript(
      database.handle.db,
      `CREATE FUNCTION test_refuse_2005() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN IF NEW.id = 2005 THEN RAISE EXCEPTION 'refused by a test trigger'; END IF; RETURN NEW; END $$;
       CREATE TRIGGER test_refuse_2005 BEFORE INSERT ON transactions FOR EACH ROW EXECUTE FUNCTION test_refuse_2005();`,
    );
    try {
      const lines = [HEADER];
      for (let id = 2001; id <= 2010; id++) lines.push(`${id},1,1,1,10.00,completed,2025-04-01T00:00:00Z`);
      const code = await ingest([await fileWith('interrupted.csv', lines.join('\n')), '--batch-size', '2']);
      expect(code).toBe(EXIT_FAILED);
      expect(err.at(-1)).toMatch(
        /batch 3 \(lines 6-7\) failed and was rolled back: refused by a test trigger; 2 earlier batch\(es\) were committed/,
      );
      expect((await rows()).map((r) => r.id)).toEqual(['500', '2001', '2002', '2003', '2004']);
    } finally {
      await database.handle.runScript(
        database.handle.db,
        'DROP TRIGGER test_refuse_2005 ON transactions; DROP FUNCTION test_refuse_2005();',
      );
    }
  });
});

describe('ingestTransactions on any database', () => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase();
    await sql`INSERT INTO customers (id, name, created_at) VALUES (1, 'לקוח', now())`.execute(database.handle.db);
    await sql`INSERT INTO products (id, sku, name, category, unit_price) VALUES (1, 'SKU-1', 'מוצר', 'בדיקות', 1)`.execute(
      database.handle.db,
    );
  });

  afterAll(async () => {
    await database?.drop();
  });

  it('keeps the last of repeated ids within a batch', async () => {
    const feed = [
      HEADER,
      '1,1,1,1,10.00,pending,2025-04-01T00:00:00Z',
      '1,1,1,1,12.00,completed,2025-04-01T00:00:00Z',
    ].join('\n');
    const summary = await ingestTransactions(database.handle.db, readTransactionCsv(Readable.from([feed])));
    expect(summary).toMatchObject({
      rows: 2,
      inserted: 1,
      updated: 0,
      unchanged: 1,
      rejected: [],
      batches: 1,
      committed: true,
    });
    const { rows } = await sql<{
      amount: string;
      status: string;
    }>`SELECT amount::text, status FROM transactions`.execute(database.handle.db);
    expect(rows).toEqual([{ amount: '12.00', status: 'completed' }]);
  });
});
