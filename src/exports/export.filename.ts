// The file name an export is saved under says what it holds and for which days: the kind, its order or
// granularity, its filter, and the day it was made (customers, products) or the days it covers (revenue), e.g.
// `customers-lifetime_value-desc-2026-11-29.csv` or `revenue-week-2025-01-01_2025-03-31.csv`. The plain
// `filename` is ASCII for every client; a search or category that is not ASCII is in `filename*` (RFC 8187,
// UTF-8) and stands as the parameter's name in the ASCII one.

export interface ExportFileName {
  /** ASCII pieces: the kind and its order or granularity. */
  what: readonly string[];
  /** The free-text filter, when one was given. */
  filter?: { parameter: string; value: string };
  /** The day of the export or the range of days, ASCII. */
  days: string;
  extension: string;
}

const MAX_FILTER_CHARACTERS = 40;

/** Letters, marks and digits of any script; every other run of characters becomes one underscore. */
function slug(text: string): string {
  const kept = text
    .normalize('NFC')
    .replace(/[^\p{L}\p{M}\p{N}]+/gu, '_')
    .replace(/^_+|_+$/g, '');
  return Array.from(kept).slice(0, MAX_FILTER_CHARACTERS).join('');
}

const ASCII_SLUG = /^[A-Za-z0-9_]+$/;

export function contentDisposition(name: ExportFileName): string {
  const filter = name.filter ? slug(name.filter.value) : undefined;
  const asciiFilter =
    filter === undefined ? [] : [filter !== '' && ASCII_SLUG.test(filter) ? filter : name.filter!.parameter];
  const ascii = `${[...name.what, ...asciiFilter, name.days].join('-')}.${name.extension}`;
  if (filter === undefined || filter === '' || ASCII_SLUG.test(filter)) return `attachment; filename="${ascii}"`;
  const full = `${[...name.what, filter, name.days].join('-')}.${name.extension}`;
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(full)}`;
}

/** Today in `timeZone`, YYYY-MM-DD: the report day the export was made on. */
export function reportDay(timeZone: string, now = new Date()): string {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).formatToParts(now);
  const part = (type: Intl.DateTimeFormatPartTypes) => parts.find((p) => p.type === type)?.value ?? '';
  return `${part('year').padStart(4, '0')}-${part('month')}-${part('day')}`;
}
