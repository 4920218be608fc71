import { Readable } from 'node:stream';
import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { EXIT_REJECTED, EXIT_USAGE, runIngestCommand } from '../../src/cli/ingest.js';
import type { OpenDatabase } from '../../src/cli/command.js';
import { MAX_LINE_CHARS, readTransactionCsv } from '../../src/ingest/csv-source.js';
import { ingestTransactions } from '../../src/ingest/ingest-transactions.js';
import { COLUMNS, validateRecord, type RejectedRow, type TransactionRow } from '../../src/ingest/transaction-row.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startTestGateway } from '../support/gateway.js';

// The transaction feed against input nobody should send: broken quoting, mixed line ends, runaway lines, sums
// past what a fixed-precision column holds, and whatever fast-check can think of.

const HEADER = COLUMNS.join(',');
const POSITIONS = Object.fromEntries(COLUMNS.map((column, index) => [column, index])) as Record<
  (typeof COLUMNS)[number],
  number
>;
const MB = 2 ** 20;

type Item = TransactionRow | RejectedRow;

/** Everything the reader yields for `chunks`, or what it threw. */
async function readAll(chunks: Iterable<string | Buffer> | AsyncIterable<string | Buffer>): Promise<Item[]> {
  const items: Item[] = [];
  for await (const item of readTransactionCsv(Readable.from(chunks))) items.push(item);
  return items;
}

const summary = (items: Item[]) =>
  items.map((item) => ('reason' in item ? `${item.line}: ${item.reason}` : `${item.line}: id ${item.id}`));

/** `text` cut at the given fractions of its length: the reader must not care where chunks end. */
function cut(text: string, at: readonly number[]): string[] {
  const points = [...new Set(at.map((fraction) => Math.floor(fraction * text.length)))].sort((a, b) => a - b);
  const pieces: string[] = [];
  let from = 0;
  for (const point of points) {
    pieces.push(text.slice(from, point));
    from = point;
  }
  pieces.push(text.slice(from));
  return pieces;
}

/** Reads a stream while sampling the process's resident memory; returns what was read and the peak growth. */
async function readMeasuringMemory(
  chunks: () => Generator<Buffer | string>,
): Promise<{ items: Item[]; growthMb: number }> {
  const before = process.memoryUsage().rss;
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
  try {
    const items: Item[] = [];
    for await (const item of readTransactionCsv(Readable.from(chunks(), { objectMode: false }))) {
      items.push(item);
      peak = Math.max(peak, process.memoryUsage().rss);
    }
    return { items, growthMb: (peak - before) / MB };
  } finally {
    clearInterval(sampler);
  }
}

describe('the feed reader on hostile input', () => {
  it('refuses each line with broken quoting on its own, with its line number, and reads the lines around it', async () => {
    const items = await readAll([
      [
        HEADER,
        '1,1,1,1,10.00,completed,2025-03-10T12:00:00Z',
        '2,1,1,1,"10.00,completed,2025-03-10T12:00:00Z',
        '3,1,1,1,10"0,completed,2025-03-10T12:00:00Z',
        '4,1,1,1,"10.00"x,completed,2025-03-10T12:00:00Z',
        '5,1,1,1, "10.00" ,"completed","2025-03-10T12:00:00Z"',
        '6,1,1,1,10.00,completed,2025-03-10T12:00:00Z',
      ].join('\n'),
    ]);
    expect(summary(items)).toEqual([
      '2: id 1',
      '3: has a quote that opens field 5 and is not closed on the line; fields of this feed never span lines',
      '4: has a quote inside field 5; a field is either quoted as a whole, with inner quotes doubled, or has none',
      '5: has characters after the quoted field 5 where a comma or the end of the line belongs',
      // RFC 4180: the blanks around a quoted field are part of it, so the quote is inside the field.
      '6: has a quote inside field 5; a field is either quoted as a whole, with inner quotes doubled, or has none',
      '7: id 6',
    ]);
  });

  it('reads CRLF, LF and CR line ends mixed in one file, even split between chunks, with exact line numbers', async () => {
    const row = (id: number) => `${id},1,1,1,10.00,completed,2025-03-10T12:00:00Z`;
    const text = `\uFEFF${HEADER}\r\n${row(1)}\n${row(2)}\r${row(3)}\r\n\r\n${row(4)}\r${'x'}\n${row(5)}\r`;
    const expected = ['2: id 1', '3: id 2', '4: id 3', '6: id 4', '7: has 1 fields where the header has 7', '8: id 5'];
    expect(summary(await readAll([text]))).toEqual(expected);
    // Cut right between the CR and the LF of a CRLF, and everywhere else.
    const crlf = text.indexOf('\r\n', 10) + 1;
    expect(summary(await readAll([text.slice(0, crlf), text.slice(crlf)]))).toEqual(expected);
    expect(summary(await readAll([...text]))).toEqual(expected);
  });

  it('refuses a 100 MB line without a line end as it streams past, in bounded memory', async () => {
    const { items, growthMb } = await readMeasuringMemory(function* () {
      yield `${HEADER}\n1,1,1,1,10.00,completed,2025-03-10T12:00:00Z\n2,1,1,1,`;
      const digits = Buffer.alloc(64 * 1024, '9');
      for (let i = 0; i < 1_600; i++) yield digits;
    });
    expect(summary(items)).toEqual([
      '2: id 1',
      `3: is ${(100 * MB + 8).toLocaleString('en-US')} characters long, more than the ${MAX_LINE_CHARS.toLocaleString('en-US')} a line may have`,
    ]);
    expect(growthMb).toBeLessThan(48);
  });

  it('refuses an enormous quoted field in bounded memory and reads the row after it', async () => {
    const { items, growthMb } = await readMeasuringMemory(function* () {
      yield `${HEADER}\n1,1,1,1,"`;
      const letters = Buffer.alloc(64 * 1024, 'a');
      for (let i = 0; i < 1_600; i++) yield letters;
      yield '",completed,2025-03-10T12:00:00Z\r\n2,1,1,1,10.00,completed,2025-03-10T12:00:00Z\r\n';
    });
    expect(summary(items)).toEqual([expect.stringMatching(/^2: is 104,857,6\d\d characters long/), '3: id 2']);
    expect(growthMb).toBeLessThan(48);
  });

  it('stops at a header it cannot read, saying why', async () => {
    await expect(readAll([`id,"customer_id,product_id\n`])).rejects.toThrow(
      /^line 1, the header, has a quote that opens field 2/,
    );
    await expect(readAll([`${'x'.repeat(MAX_LINE_CHARS + 1)}\n`])).rejects.toThrow(
      /^line 1, the header, is 10,001 characters long/,
    );
  });
});

describe('the feed reader, for any input (fast-check)', () => {
  const nasty = fc.string({
    unit: fc.constantFrom(
      '"',
      ',',
      '\r',
      '\n',
      ' ',
      '1',
      '0',
      '.',
      '-',
      ':',
      'T',
      'Z',
      'a',
      'é',
      '\uFEFF',
      '\u0000',
      '𝄞',
    ),
  });
  const line = fc.oneof(nasty, fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme', maxLength: 60 }));

  it('never throws after a good header: every line is a row or a refusal with a reason, wherever the chunks end', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(line, { maxLength: 12 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 6 }),
        async (lines, cuts) => {
          const text = [HEADER, ...lines].join('\n');
          const whole = await readAll([text]);
          for (const item of whole) {
            if ('reason' in item) expect(item.reason).toMatch(/^\S.{8,}/);
            else
              expect(
                validateRecord(
                  COLUMNS.map((column) => item[fieldOf(column)]),
                  POSITIONS,
                  item.line,
                ),
              ).toEqual(item);
            expect(item.line).toBeGreaterThanOrEqual(2);
          }
          expect(await readAll(cut(text, cuts))).toEqual(whole);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('reads every valid row, however its fields are quoted and its lines end', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(validRow, { minLength: 1, maxLength: 8 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 4 }),
        async (rows, cuts) => {
          let text = HEADER;
          for (const row of rows) {
            text += row.lineEnd;
            text += row.fields.map((value, index) => (row.quoted[index] ? `"${value}"` : value)).join(',');
          }
          const items = await readAll(cut(text, cuts));
          expect(items).toEqual(
            rows.map((row, index) => {
              const [id, customerId, productId, quantity, amount, status, transactionDate] = row.fields;
              return { line: index + 2, id, customerId, productId, quantity, amount, status, transactionDate };
            }),
          );
        },
      ),
      { numRuns: 200 },
    );
  });
});

function fieldOf(column: (typeof COLUMNS)[number]): Exclude<keyof TransactionRow, 'line'> {
  const names = {
    id: 'id',
    customer_id: 'customerId',
    product_id: 'productId',
    quantity: 'quantity',
    amount: 'amount',
    status: 'status',
    transaction_date: 'transactionDate',
  } as const;
  return names[column];
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** An instant as the feed writes it: local wall time with a UTC offset (or Z), maybe a fraction of a second. */
function formatInstant(utcMs: number, offsetMinutes: number | null, fraction: string): string {
  const local = new Date(utcMs + (offsetMinutes ?? 0) * 60_000);
  const date = `${pad(local.getUTCFullYear(), 4)}-${pad(local.getUTCMonth() + 1)}-${pad(local.getUTCDate())}`;
  const time = `${pad(local.getUTCHours())}:${pad(local.getUTCMinutes())}:${pad(local.getUTCSeconds())}${fraction}`;
  if (offsetMinutes === null) return `${date}T${time}Z`;
  const sign = offsetMinutes < 0 ? '-' : '+';
  const magnitude = Math.abs(offsetMinutes);
  return `${date}T${time}${sign}${pad(Math.floor(magnitude / 60))}:${pad(magnitude % 60)}`;
}

const offset = fc.option(fc.integer({ min: -15 * 60, max: 15 * 60 }), { nil: null });
const fraction = fc.oneof(fc.constant(''), fc.stringMatching(/^\.\d{1,6}$/));

const validRow = fc.record({
  fields: fc.tuple(
    fc.bigInt({ min: 1n, max: 10n ** 18n - 1n }).map(String),
    fc.bigInt({ min: 1n, max: 10n ** 18n - 1n }).map(String),
    fc.bigInt({ min: 1n, max: 10n ** 18n - 1n }).map(String),
    fc.integer({ min: 1, max: 2_147_483_647 }).map(String),
    fc
      .tuple(fc.bigInt({ min: 0n, max: 9_999_999_999n }), fc.constantFrom('', '.5', '.05', '.99'))
      .map(([units, cents]) => `${units}${cents}`),
    fc.constantFrom('completed', 'pending', 'cancelled'),
    // Whole seconds at least a day inside the range, so that no offset carries them out of it.
    fc
      .tuple(
        fc.integer({ min: Date.parse('1900-01-02T00:00:00Z') / 1000, max: Date.parse('8999-12-30T00:00:00Z') / 1000 }),
        offset,
        fraction,
      )
      .map(([seconds, minutes, part]) => formatInstant(seconds * 1000, minutes, part)),
  ),
  quoted: fc.array(fc.boolean(), { minLength: 7, maxLength: 7 }),
  lineEnd: fc.constantFrom('\n', '\r\n', '\r'),
});

describe('the feed and PostgreSQL on the range of transaction dates', () => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase();
  });

  afterAll(async () => {
    await database?.drop();
  });

  it('agree on every instant near either bound, whatever its offset (fast-check)', async () => {
    const near = (bound: string) =>
      fc
        .tuple(fc.integer({ min: -40 * 3600, max: 40 * 3600 }), offset, fraction)
        .map(([seconds, minutes, part]) => formatInstant(Date.parse(bound) + seconds * 1000, minutes, part));
    const samples = fc.sample(fc.oneof(near('1900-01-01T00:00:00Z'), near('9000-01-01T00:00:00Z')), {
      numRuns: 2_000,
      seed: 13,
    });
    samples.push(
      '1900-01-01T00:00:00Z',
      '1899-12-31T23:59:59.999999Z',
      '8999-12-31T23:59:59.999999Z',
      '9000-01-01T00:00:00Z',
      '9000-01-01T14:59:59+15:00',
      '1899-12-31T09:00:00-15:00',
    );
    const { rows } = await sql<{ instant: string; inside: boolean }>`
      SELECT instant, (instant::timestamptz >= '1900-01-01T00:00:00Z' AND instant::timestamptz < '9000-01-01T00:00:00Z') AS inside
      FROM unnest(${samples}::text[]) AS instant`.execute(database.handle.db);
    const disagreements = rows.filter(({ instant, inside }) => {
      const checked = validateRecord(['1', '1', '1', '1', '1.00', 'completed', instant], POSITIONS, 2);
      return 'reason' in checked === inside;
    });
    expect(disagreements).toEqual([]);
    expect(rows.filter((row) => row.inside).length).toBeGreaterThan(samples.length / 4);
    expect(rows.filter((row) => !row.inside).length).toBeGreaterThan(samples.length / 4);
  });
});

describe('the ingest command on hostile input', () => {
  let database: TestDatabase;
  const out: string[] = [];
  const err: string[] = [];

  async function ingest(text: string): Promise<number> {
    out.length = 0;
    err.length = 0;
    const output = { out: (line: string) => out.push(line), err: (line: string) => err.push(line) };
    // By URL on a server; on the embedded PGlite, which cannot be opened twice, the test's own handle is lent.
    const borrowed: OpenDatabase = () => ({ ...database.handle, close: async () => undefined });
    const databaseUrl = database.url ?? 'postgres://embedded.invalid/';
    return runIngestCommand(['-'], { databaseUrl }, output, Readable.from([text]), database.url ? undefined : borrowed);
  }

  beforeAll(async () => {
    database = await createTestDatabase();
    await sql`INSERT INTO customers (id, name, created_at) VALUES (1, 'לקוחה', now())`.execute(database.handle.db);
    await sql`INSERT INTO products (id, sku, name, category, unit_price) VALUES (1, 'LAP-1', 'מחשב נייד', 'מחשבים', 10)`.execute(
      database.handle.db,
    );
  });

  beforeEach(async () => {
    await sql`DELETE FROM transactions`.execute(database.handle.db);
  });

  afterAll(async () => {
    await database?.drop();
  });

  it('prints one clear line per broken row, never a parser message or a stack, and writes the good rows', async () => {
    const code = await ingest(
      [
        HEADER,
        '1,1,1,1,10.00,completed,2025-03-10T12:00:00Z',
        '2,1,1,1,"10.00,completed,2025-03-10T12:00:00Z',
        '3,1,1,1,10.00,completed,2025-03-10T12:00:00Z',
      ].join('\r\n') +
        '\n4,1,1,1,10.00"x",completed,2025-03-10T12:00:00Z\r5,1,1,1,10.00,completed,2025-03-10T12:00:00Z',
    );
    expect(code).toBe(EXIT_REJECTED);
    expect(err).toEqual([
      'line 3: has a quote that opens field 5 and is not closed on the line; fields of this feed never span lines',
      'line 5: has a quote inside field 5; a field is either quoted as a whole, with inner quotes doubled, or has none',
    ]);
    expect(out.at(-1)).toMatch(/^read 5 rows: 2 refused, 3 inserted/);
    const { rows } = await sql<{ id: string }>`SELECT id::text FROM transactions ORDER BY id`.execute(
      database.handle.db,
    );
    expect(rows.map((row) => row.id)).toEqual(['1', '3', '5']);
  });

  it('refuses a header it cannot read with exit 2, writing nothing', async () => {
    expect(await ingest(`id,customer_id,"product_id\n1,1,1,1,10.00,completed,2025-03-10T12:00:00Z\n`)).toBe(EXIT_USAGE);
    expect(err).toEqual([
      expect.stringMatching(/^ingest: line 1, the header, has a quote that opens field 3 .*; nothing was written$/),
    ]);
  });

  it('loads a batch whose sums pass what numeric(16,2) holds, and reports them exactly', async () => {
    // 10,001 completed sales of the largest amount the feed takes, on one day, by one customer of one product:
    // every rollup of that day, customer and product sums to more than 10^14.
    const ROWS = 10_001;
    const lines = [HEADER];
    for (let id = 1; id <= ROWS; id++) lines.push(`${id},1,1,1,9999999999.99,completed,2025-03-10T12:00:00Z`);
    const loaded = await ingestTransactions(database.handle.db, readTransactionCsv(Readable.from([lines.join('\n')])));
    expect(loaded).toMatchObject({ inserted: ROWS, rejected: [], batches: 1 });

    const { rows } = await sql<{ revenue: string }>`
      SELECT round(sum(amount), 2)::text AS revenue FROM transactions WHERE status = 'completed'`.execute(
      database.handle.db,
    );
    const revenue = rows[0]!.revenue;
    expect(revenue).toBe('100009999999899.99');

    const gateway = await startTestGateway(database.handle);
    try {
      const answer = await gateway.post<Record<string, unknown>>({
        query: `{
          dashboard(from: "2025-03-10", to: "2025-03-10") { totalRevenue avgOrderValue completedTransactions topProducts(limit: 1) { revenue } }
          revenue(from: "2025-03-01", to: "2025-03-31", granularity: MONTH) { totalRevenue points { totalRevenue } }
          products(first: 1) { edges { node { revenue revenueShare topCustomers(limit: 1) { lifetimeValue } } } }
          customers(first: 1) { edges { node { lifetimeValue avgOrderValue favoriteProduct { sku } } } }
        }`,
      });
      expect(answer.body.errors).toBeUndefined();
      expect(answer.body.data).toEqual({
        dashboard: {
          totalRevenue: revenue,
          avgOrderValue: '9999999999.99',
          completedTransactions: ROWS,
          topProducts: [{ revenue }],
        },
        revenue: { totalRevenue: revenue, points: [{ totalRevenue: revenue }] },
        products: { edges: [{ node: { revenue, revenueShare: 1, topCustomers: [{ lifetimeValue: revenue }] } }] },
        customers: {
          edges: [
            { node: { lifetimeValue: revenue, avgOrderValue: '9999999999.99', favoriteProduct: { sku: 'LAP-1' } } },
          ],
        },
      });
    } finally {
      await gateway.close();
    }
  });
});
