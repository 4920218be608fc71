import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { parse } from 'csv-parse/sync';
import { HeaderError, readHeader, validateRecord, type RejectedRow, type TransactionRow } from './transaction-row.js';

// The transaction feed's CSV, read line by line. No column of the feed can hold a line break (ids, numbers, a
// status, a date), so a record is one line: a quote left open is refused on its own line instead of swallowing
// the rows after it (a general CSV reader must let it run on, since RFC 4180 allows line breaks inside quotes),
// and line numbers stay exact whatever mixes of CRLF, LF and CR end the lines. Quoting within a line follows
// RFC 4180 and is read by csv-parse ("a ""b"""). A line longer than any row can be is skipped as it streams past,
// never held, so memory stays bounded whatever the input.

/** Longest line read, in characters. A row of the feed is under 200; the bound only stops a runaway line. */
export const MAX_LINE_CHARS = 10_000;

type Line = { line: number; text: string } | { line: number; overLength: number };

/** The lines of `input` (UTF-8, an optional BOM), numbered from 1; lines over MAX_LINE_CHARS come as their length only. */
async function* readLines(input: Readable): AsyncGenerator<Line> {
  const decoder = new StringDecoder('utf8');
  let line = 1;
  let pending = '';
  // Characters of the current line counted and dropped once it grew past MAX_LINE_CHARS; -1 while within it.
  let dropped = -1;
  let afterCarriageReturn = false;
  let first = true;

  const take = (piece: string) => {
    if (dropped >= 0) dropped += piece.length;
    else if (pending.length + piece.length > MAX_LINE_CHARS) {
      dropped = pending.length + piece.length;
      pending = '';
    } else pending += piece;
  };
  const end = (): Line => {
    const finished: Line = dropped >= 0 ? { line, overLength: dropped } : { line, text: pending };
    pending = '';
    dropped = -1;
    line += 1;
    return finished;
  };

  for await (const chunk of input as AsyncIterable<Buffer | string>) {
    let text = typeof chunk === 'string' ? chunk : decoder.write(chunk);
    if (first && text.length > 0) {
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      first = false;
    }
    let start = 0;
    // A CR at the end of the previous chunk and an LF at the start of this one are one line end.
    if (afterCarriageReturn && text.length > 0) {
      if (text[0] === '\n') start = 1;
      afterCarriageReturn = false;
    }
    const breaks = /\r\n|\r|\n/g;
    breaks.lastIndex = start;
    for (let match = breaks.exec(text); match; match = breaks.exec(text)) {
      take(text.slice(start, match.index));
      yield end();
      start = match.index + match[0].length;
      if (match[0] === '\r' && start === text.length) afterCarriageReturn = true;
    }
    take(text.slice(start));
  }
  take(decoder.end());
  if (pending.length > 0 || dropped >= 0) yield end();
}

// What csv-parse reports about a line's quoting, in the feed's own words (field numbers from 1).
const QUOTING_PROBLEMS: Record<string, (field: number) => string> = {
  CSV_QUOTE_NOT_CLOSED: (field) =>
    `has a quote that opens field ${field} and is not closed on the line; fields of this feed never span lines`,
  INVALID_OPENING_QUOTE: (field) =>
    `has a quote inside field ${field}; a field is either quoted as a whole, with inner quotes doubled, or has none`,
  CSV_INVALID_CLOSING_QUOTE: (field) =>
    `has characters after the quoted field ${field} where a comma or the end of the line belongs`,
};

/**
 * The fields of one line, or what is wrong with its quoting (a refusal reason). A line without a quote is split
 * at its commas, which is all RFC 4180 asks of it (and what nearly every line of a feed is); a line with quotes is
 * csv-parse's to read, as one record.
 */
export function splitFields(text: string): string[] | { problem: string } {
  if (!text.includes('"')) return text.split(',');
  try {
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- csv-parse's generic form wants `columns`
    const [record] = parse(text, { relax_column_count: true, bom: false }) as string[][];
    return record ?? [''];
  } catch (error) {
    const { code, column } = error as { code?: string; column?: number };
    const field = (column ?? 0) + 1;
    const problem = code !== undefined ? QUOTING_PROBLEMS[code] : undefined;
    return { problem: problem ? problem(field) : `has quoting that cannot be read (field ${field})` };
  }
}

/**
 * The rows of a transaction CSV, checked one by one; the first line that is not empty is the header. A row with
 * the wrong number of fields, broken quoting or an impossible length is refused like any other bad row, with
 * its line number; a bad header stops everything (HeaderError), since no row could then be read correctly.
 */
export async function* readTransactionCsv(input: Readable): AsyncGenerator<TransactionRow | RejectedRow> {
  let positions: ReturnType<typeof readHeader> | undefined;
  let width = 0;
  for await (const read of readLines(input)) {
    const { line } = read;
    if ('overLength' in read) {
      const reason = `is ${read.overLength.toLocaleString('en-US')} characters long, more than the ${MAX_LINE_CHARS.toLocaleString('en-US')} a line may have`;
      if (!positions) throw new HeaderError(`line ${line}, the header, ${reason}`);
      yield { line, reason };
      continue;
    }
    if (read.text === '') continue;
    const fields = splitFields(read.text);
    if (!Array.isArray(fields)) {
      if (!positions) throw new HeaderError(`line ${line}, the header, ${fields.problem}`);
      yield { line, reason: fields.problem };
      continue;
    }
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
  if (!positions) throw new HeaderError('the input is empty: a header line and rows were expected');
}
