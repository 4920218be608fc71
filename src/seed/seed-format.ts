// ---------------------------------------------------------------------------------------------------------
// Formatting: money from integer agorot, instants at whole seconds in UTC.

export const SECONDS_PER_DAY = 86_400;
export const MS_PER_DAY = SECONDS_PER_DAY * 1000;

export function formatCents(cents: number): string {
  const agorot = cents % 100;
  return `${(cents - agorot) / 100}.${agorot < 10 ? '0' : ''}${agorot}`;
}

export const TWO_DIGITS = Array.from({ length: 60 }, (_, n) => String(n).padStart(2, '0'));

export function clock(secondOfDay: number): string {
  const hour = Math.floor(secondOfDay / 3600);
  const minute = Math.floor((secondOfDay % 3600) / 60);
  return `${TWO_DIGITS[hour]}:${TWO_DIGITS[minute]}:${TWO_DIGITS[secondOfDay % 60]}Z`;
}

export function isoInstant(epochSecond: number): string {
  return new Date(epochSecond * 1000).toISOString().replace('.000Z', 'Z');
}

/** Days since 1970-01-01 for a valid YYYY-MM-DD from 1900 to 9999; undefined otherwise. */
export function parseDay(value: string): number | undefined {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (!match) return undefined;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const time = Date.UTC(year, month - 1, day);
  if (year < 1900 || formatDay(time / MS_PER_DAY) !== value) return undefined;
  return time / MS_PER_DAY;
}

export function formatDay(day: number): string {
  return new Date(day * MS_PER_DAY).toISOString().slice(0, 10);
}
