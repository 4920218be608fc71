import type { ExportColumn, ExportValues } from './export.columns.js';

// How rows are written, per format. CSV is RFC 4180 for spreadsheets: CRLF line ends, a UTF-8 byte order mark
// (without it Excel reads the Hebrew names as Windows-1252), a header row of the field names, and text cells
// neutralised against formula injection. NDJSON is for programs: one JSON object per line, values exactly as the
// API gives them, nothing neutralised (it is data, not a sheet).

export type ExportFormatName = 'csv' | 'ndjson';

export interface ExportFormat {
  name: ExportFormatName;
  contentType: string;
  /** What the export starts with, before its first row. */
  start(columns: readonly ExportColumn[]): string;
  row(columns: readonly ExportColumn[], values: ExportValues): string;
}

const BOM = '\uFEFF';
const CRLF = '\r\n';

// OWASP, CSV Injection: a cell starting with one of these may be run as a formula (or, for tab and carriage
// return, lets one follow) when a spreadsheet opens the file.
const FORMULA_START = /^[=+\-@\t\r]/;
// RFC 4180: a field holding a comma, a double quote or a line break must be quoted.
const NEEDS_QUOTES = /[",\r\n]/;

/**
 * A text cell as OWASP advises: a value that starts like a formula gets a single quote in front, which
 * spreadsheets show as text and do not evaluate, and every text cell is quoted (inner quotes doubled), so that
 * nothing in it can end the cell early. `-Acme` is written `"'-Acme"`.
 */
export function csvTextCell(text: string): string {
  const safe = FORMULA_START.test(text) ? `'${text}` : text;
  return `"${safe.replaceAll('"', '""')}"`;
}

/**
 * Any other cell: ids, money, counts, shares, days and instants. They are never neutralised, since a quote in
 * front would change the value, and none of them can start like a formula: amounts, counts and shares are never
 * negative (and a negative number would still be just a number), and ids, days and instants start with a letter
 * or a digit. Quoted only if RFC 4180 requires it, which none of them does.
 */
function csvDataCell(value: string | number | boolean): string {
  const text = String(value);
  return NEEDS_QUOTES.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** A null is an empty cell; an empty text is `""`, so the two stay apart. */
function csvCell(column: ExportColumn, value: string | number | boolean | null): string {
  if (value === null) return '';
  return column.text ? csvTextCell(String(value)) : csvDataCell(value);
}

export const csvFormat: ExportFormat = {
  name: 'csv',
  contentType: 'text/csv; charset=utf-8; header=present',
  start: (columns) => BOM + columns.map((column) => column.name).join(',') + CRLF,
  row: (columns, values) => values.map((value, i) => csvCell(columns[i]!, value)).join(',') + CRLF,
};

export const ndjsonFormat: ExportFormat = {
  name: 'ndjson',
  contentType: 'application/x-ndjson; charset=utf-8',
  start: () => '',
  row: (columns, values) => {
    const object: Record<string, unknown> = {};
    columns.forEach((column, i) => {
      object[column.name] = values[i];
    });
    return `${JSON.stringify(object)}\n`;
  },
};

export const EXPORT_FORMATS: Record<ExportFormatName, ExportFormat> = { csv: csvFormat, ndjson: ndjsonFormat };
