import { Readable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readTransactionCsv, splitFields } from '../../src/ingest/csv-source.js';
import {
  COLUMNS,
  HeaderError,
  readHeader,
  validateRecord,
  type RejectedRow,
  type TransactionRow,
} from '../../src/ingest/transaction-row.js';

// The transaction feed's CSV, read and checked without a database: fields and their quoting, line ends and
// line numbers, the header, and each column's rule. Loading the rows: test/ingest/ingest.test.ts; hostile
// input (huge lines, bounded memory): test/hostile/ingest.test.ts.

const HEADER = COLUMNS.join(',');
const ROW = '1,10,20,2,99.90,completed,2025-03-10T12:00:00Z';

async function readAll(...chunks: (string | Buffer)[]): Promise<(TransactionRow | RejectedRow)[]> {
  const read: (TransactionRow | RejectedRow)[] = [];
  for await (const row of readTransactionCsv(Readable.from(chunks))) read.push(row);
  return read;
}

const reasons = (rows: (TransactionRow | RejectedRow)[]) =>
  rows.map((row) => ('reason' in row ? `${row.line}: ${row.reason}` : `${row.line}: ${row.id}`));

/** A field quoted as RFC 4180 has it: in double quotes, an inner quote doubled. */
const quoted = (field: string) => `"${field.replaceAll('"', '""')}"`;

describe('the fields of a line', () => {
  it('are split at the commas of a line without quotes, empty fields kept', () => {
    expect(splitFields('1,,3,')).toEqual(['1', '', '3', '']);
  });

  it('may be quoted, with commas and doubled quotes inside', () => {
    expect(splitFields('"1","a, b","say ""hi""",""')).toEqual(['1', 'a, b', 'say "hi"', '']);
  });

  it('come back as written, however each is quoted (fast-check)', () => {
    // No field of the feed can hold a line break; anything else may be quoted.
    const field = fc.string({ maxLength: 12 }).filter((text) => !/[\r\n]/.test(text));
    fc.assert(
      fc.property(fc.array(fc.tuple(field, fc.boolean()), { minLength: 1, maxLength: 8 }), (fields) => {
        // An unquoted field must not need quoting; those are quoted whatever the draw.
        const line = fields.map(([text, quote]) => (quote || /[",]/.test(text) ? quoted(text) : text)).join(',');
        expect(splitFields(line)).toEqual(fields.map(([text]) => text));
      }),
      { numRuns: 100 },
    );
  });

  it('refuses blanks around a quoted field, naming the field', () => {
    expect(splitFields('1, "2",3')).toEqual({
      problem:
        'has a quote inside field 2; a field is either quoted as a whole, with inner quotes doubled, or has none',
    });
    expect(splitFields('1,"2" ,3')).toEqual({
      problem: 'has characters after the quoted field 2 where a comma or the end of the line belongs',
    });
  });

  it('refuses a quote inside an unquoted field and a quote left open', () => {
    expect(splitFields('a"b,c')).toEqual({
      problem:
        'has a quote inside field 1; a field is either quoted as a whole, with inner quotes doubled, or has none',
    });
    expect(splitFields('1,"2')).toEqual({
      problem: 'has a quote that opens field 2 and is not closed on the line; fields of this feed never span lines',
    });
  });
});

describe('the lines of a feed', () => {
  it('are read with LF, CRLF and CR ends, after a BOM, with their line numbers', async () => {
    const rows = await readAll(`\uFEFF${HEADER}\r\n${ROW}\n${ROW.replace('1,', '2,')}\r${ROW.replace('1,', '3,')}`);
    expect(reasons(rows)).toEqual(['2: 1', '3: 2', '4: 3']);
    expect(rows[0]).toEqual({
      line: 2,
      id: '1',
      customerId: '10',
      productId: '20',
      quantity: '2',
      amount: '99.90',
      status: 'completed',
      transactionDate: '2025-03-10T12:00:00Z',
    });
  });

  it('count a CRLF split between two chunks as one line end', async () => {
    expect(reasons(await readAll(`${HEADER}\r`, `\n${ROW}\r`, '\n\r\n', `${ROW.replace('1,', '5,')}`))).toEqual([
      '2: 1',
      '4: 5',
    ]);
  });

  it('read a BOM and a UTF-8 character split between chunks, before a quoted header', async () => {
    const bytes = Buffer.from(
      `\uFEFF${COLUMNS.map(quoted).join(',')}\n${ROW.replace('completed', 'cancelled')}\n`,
      'utf8',
    );
    const rows = await readAll(bytes.subarray(0, 2), bytes.subarray(2, 40), bytes.subarray(40));
    expect(rows).toMatchObject([{ line: 2, status: 'cancelled' }]);
  });

  it('skip blank lines, which keep their numbers', async () => {
    expect(reasons(await readAll(`\n${HEADER}\n\n${ROW}\n\n`))).toEqual(['4: 1']);
  });

  it('refuse each bad line on its own, with its line number, and read the lines around it', async () => {
    const feed = [
      HEADER,
      ROW,
      '2,10,20,1,5.00,completed',
      '3,10,20,1,"5.00,completed,2025-03-10T12:00:00Z',
      ROW.replace('1,', '4,'),
    ].join('\n');
    expect(reasons(await readAll(feed))).toEqual([
      '2: 1',
      '3: has 6 fields where the header has 7',
      '4: has a quote that opens field 5 and is not closed on the line; fields of this feed never span lines',
      '5: 4',
    ]);
  });

  it('stop at a header that cannot be read, or an empty input', async () => {
    await expect(readAll('id,customer_id\n1,2\n')).rejects.toThrow(HeaderError);
    await expect(readAll('\n\n')).rejects.toThrow('the input is empty: a header line and rows were expected');
    await expect(readAll('"id,customer_id\n')).rejects.toThrow(/^line 1, the header, has a quote that opens field 1/);
  });
});

describe('the header', () => {
  it('names every column once, in any order and case', () => {
    expect(readHeader([...COLUMNS].reverse().map((name) => ` ${name.toUpperCase()} `))).toEqual({
      id: 6,
      customer_id: 5,
      product_id: 4,
      quantity: 3,
      amount: 2,
      status: 1,
      transaction_date: 0,
    });
  });

  it('is refused naming every missing, repeated and unknown column at once', () => {
    expect(() =>
      readHeader(['id', 'id', 'customer_id', 'product_id', 'quantity', 'amount', 'state', 'transaction_date']),
    ).toThrow(
      'the header must name the columns id,customer_id,product_id,quantity,amount,status,transaction_date (in any order): ' +
        "column id appears twice; missing column status; unknown column 'state'",
    );
  });
});

describe('a row', () => {
  const positions = readHeader([...COLUMNS]);
  const check = (fields: Partial<Record<(typeof COLUMNS)[number], string>>, line = 7) => {
    const base = {
      id: '1',
      customer_id: '10',
      product_id: '20',
      quantity: '2',
      amount: '99.90',
      status: 'completed',
      transaction_date: '2025-03-10T12:00:00Z',
    };
    const row = { ...base, ...fields };
    return validateRecord(
      COLUMNS.map((column) => row[column]),
      positions,
      line,
    );
  };

  it('passes with its values trimmed, the date with any offset', () => {
    expect(check({ amount: ' 0 ', transaction_date: '2024-02-29T23:59:59.5+14:00' })).toMatchObject({
      line: 7,
      amount: '0',
      transactionDate: '2024-02-29T23:59:59.5+14:00',
    });
  });

  it('is refused naming the column, the rule and the value, with its line number', () => {
    expect(check({ id: '0' })).toEqual({ line: 7, reason: "id must be a positive integer; got '0'" });
    expect(check({ quantity: '' }, 9)).toEqual({
      line: 9,
      reason: 'quantity must be an integer from 1 to 2147483647; got nothing',
    });
    expect(check({ amount: '-1.00' })).toEqual({
      line: 7,
      reason: "amount must be a number >= 0 with at most 2 decimals and 10 digits before the point; got '-1.00'",
    });
    expect(check({ amount: '1.005' })).toMatchObject({ reason: expect.stringMatching(/^amount must be/) });
    expect(check({ status: 'refunded' })).toEqual({
      line: 7,
      reason: "status must be one of completed, pending, cancelled; got 'refunded'",
    });
    expect(check({ transaction_date: '2025-02-29T10:00:00Z' })).toEqual({
      line: 7,
      reason: "transaction_date has no such day; got '2025-02-29T10:00:00Z'",
    });
    expect(check({ transaction_date: '2025-03-10' })).toMatchObject({
      reason: expect.stringMatching(/^transaction_date must be ISO 8601 with a time and an offset/),
    });
  });

  it('shows at most 40 characters of a refused value', () => {
    expect(check({ status: 'x'.repeat(100) })).toEqual({
      line: 7,
      reason: `status must be one of completed, pending, cancelled; got '${'x'.repeat(40)}...'`,
    });
  });
});
