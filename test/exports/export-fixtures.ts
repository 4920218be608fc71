import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { parse } from 'csv-parse/sync';
import { buildSchema, getNullableType, isLeafType, isObjectType } from 'graphql';
import type { Gateway } from '../../src/app/create-gateway.js';

// Shared by the export tests: downloads over a real socket, CSV parsed back with csv-parse (RFC 4180 read by a
// maintained library, not by the code under test), and what a cell must hold for a value GraphQL answers.

export interface Download {
  status: number;
  headers: Headers;
  bytes: Buffer;
  text: string;
}

export function baseUrl(gateway: Gateway): string {
  return `http://127.0.0.1:${(gateway.app.server.address() as AddressInfo).port}`;
}

export async function download(base: string, path: string, headers: Record<string, string> = {}): Promise<Download> {
  const response = await fetch(`${base}${path}`, { headers });
  const bytes = Buffer.from(await response.arrayBuffer());
  return { status: response.status, headers: response.headers, bytes, text: bytes.toString('utf8') };
}

export const BOM = '\uFEFF';

/**
 * A CSV export as csv-parse reads it: records end with CRLF only (a bare LF outside quotes would stay in a
 * cell and show), and an empty cell that was not quoted is null (a null field), `""` an empty text.
 */
export function parseCsv(text: string): { header: string[]; rows: (string | null)[][] } {
  if (!text.startsWith(BOM)) throw new Error('the export does not start with a UTF-8 byte order mark');
  const records = parse(text.slice(BOM.length), {
    record_delimiter: '\r\n',
    relax_column_count: false,
    cast: (value, context) => (context.quoting ? value : value === '' ? null : value),
  }) as (string | null)[][];
  const [header, ...rows] = records;
  return { header: header as string[], rows };
}

/** NDJSON parsed back: one object per line, each line ending in LF. */
export function parseNdjson(text: string): Record<string, unknown>[] {
  if (text === '') return [];
  if (!text.endsWith('\n')) throw new Error('the export does not end with a line feed');
  return text
    .slice(0, -1)
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** The committed SDL: what the columns are compared with, independently of the code that derives them. */
export const committedSchema = buildSchema(
  readFileSync(new URL('../../schema/schema.graphql', import.meta.url), 'utf8'),
);

/** The leaf (scalar and enum) fields of a type in the committed SDL, and which of them are String. */
export function scalarFieldsOf(typeName: string): { names: Set<string>; text: Set<string> } {
  const type = committedSchema.getType(typeName);
  if (!isObjectType(type)) throw new Error(`no object type ${typeName} in schema/schema.graphql`);
  const names = new Set<string>();
  const text = new Set<string>();
  for (const field of Object.values(type.getFields())) {
    const named = getNullableType(field.type);
    if (!isLeafType(named)) continue;
    names.add(field.name);
    if (named.name === 'String') text.add(field.name);
  }
  return { names, text };
}

// OWASP's list, written out again here rather than imported: the test states the rule on its own.
const FORMULA_START = ['=', '+', '-', '@', '\t', '\r'];

/** The cell a CSV export must hold for a value as GraphQL answers it. */
export function expectedCell(value: unknown, text: boolean): string | null {
  if (value === null) return null;
  const shown = String(value);
  return text && FORMULA_START.some((start) => shown.startsWith(start)) ? `'${shown}` : shown;
}

/** What each CSV row must hold, in the header's order, for the nodes GraphQL answered. */
export function expectedRows(
  header: readonly string[],
  textFields: ReadonlySet<string>,
  nodes: readonly Record<string, unknown>[],
): (string | null)[][] {
  return nodes.map((node) => header.map((name) => expectedCell(node[name], textFields.has(name))));
}
