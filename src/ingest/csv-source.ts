import type { Readable } from 'node:stream';
import { parse, type CsvError } from 'csv-parse';
import { HeaderError, readHeader, validateRecord, type RejectedRow, type TransactionRow } from './transaction-row.js';

/**
 * The rows of a transaction CSV (RFC 4180: quoted fields, CRLF or LF, an optional BOM), streamed through
 * csv-parse and checked one by one. The first line is the header. A row with the wrong number of fields or
 * a broken quote is refused like any other bad row, with its line number; a bad header stops everything
 * (HeaderError), since no row could then be read correctly.
 */
export async function* readTransactionCsv(input: Readable): AsyncGenerator<TransactionRow | RejectedRow> {
  const skipped: RejectedRow[] = [];
  const parser = input.pipe(
    parse({
      bom: true,
      skip_empty_lines: true,
      relax_column_count: true,
      skip_records_with_error: true,
      on_skip: (error: CsvError | undefined) => {
        if (error) skipped.push({ line: Number((error as { lines?: number }).lines ?? 0), reason: `unreadable CSV: ${error.message}` });
        return undefined;
      },
      // The line a record ends on, appended to its fields: cheaper than csv-parse's `info` object per record.
      on_record: (record: string[], context) => {
        (record as unknown as unknown[]).push(context.lines);
        return record;
      },
    }),
  );
  input.on('error', (error) => parser.destroy(error));

  let positions: ReturnType<typeof readHeader> | undefined;
  let width = 0;
  for await (const record of parser as AsyncIterable<unknown[]>) {
    while (skipped.length > 0) yield skipped.shift()!;
    const line = record.pop() as number;
    const fields = record as string[];
    if (!positions) {
      positions = readHeader(fields);
      width = fields.length;
      continue;
    }
    if (fields.length !== width) {
      yield { line, reason: `has ${fields.length} fields where the header has ${width}` };
      continue;
    }
    yield validateRecord(fields, positions, line);
  }
  while (skipped.length > 0) yield skipped.shift()!;
  if (!positions) throw new HeaderError('the input is empty: a header line and rows were expected');
}
