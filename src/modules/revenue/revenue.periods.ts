import { badInput } from '../../graphql/errors.js';
import type { DayRange } from '../../db/day-range.js';
import type { DataBounds } from './revenue.repository.js';

// The range a comparison sets beside a range of report days. Calendar arithmetic on days only (no time zone is
// involved: report days are already days), done here rather than in SQL because the cost model prices a
// comparison's series before anything runs, and a comparison's `from`/`to` need no statement of their own.

export enum ComparisonPeriod {
  PREVIOUS_PERIOD = 'PREVIOUS_PERIOD',
  PREVIOUS_YEAR = 'PREVIOUS_YEAR',
}

export interface DayBounds {
  from: string;
  to: string;
}

/**
 * The earliest day a comparison may start: the earliest a `Date` argument takes, so that a range compared with
 * is one a client could have asked for, and every day derived from it (a trend a year back, a week's Monday)
 * keeps a four-digit year.
 */
export const FIRST_DAY = '1000-01-01';

interface CalendarDay {
  year: number;
  month: number;
  day: number;
}

const DAY_MS = 86_400_000;

function parseDay(text: string): CalendarDay {
  const [year, month, day] = text.split('-').map(Number) as [number, number, number];
  return { year, month, day };
}

function formatDay({ year, month, day }: CalendarDay): string {
  return `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
}

// Date.UTC reads years 0..99 as 1900..1999; setUTCFullYear takes them as written.
function dayNumber({ year, month, day }: CalendarDay): number {
  const date = new Date(Date.UTC(2000, month - 1, day));
  date.setUTCFullYear(year, month - 1, day);
  return date.getTime() / DAY_MS;
}

function fromDayNumber(number: number): CalendarDay {
  const date = new Date(number * DAY_MS);
  return { year: date.getUTCFullYear(), month: date.getUTCMonth() + 1, day: date.getUTCDate() };
}

function daysInMonth(year: number, month: number): number {
  return fromDayNumber(dayNumber({ year, month: month + 1, day: 1 }) - 1).day;
}

const addDays = (day: CalendarDay, days: number): CalendarDay => fromDayNumber(dayNumber(day) + days);

/** Whether `from`..`to` is whole calendar months: from a month's first day to a month's last day. */
export function isWholeMonths(range: DayBounds): boolean {
  const from = parseDay(range.from);
  const to = parseDay(range.to);
  return from.day === 1 && to.day === daysInMonth(to.year, to.month);
}

/**
 * The range `range` is compared with. PREVIOUS_PERIOD ends the day before `from` and is as long: the same
 * number of whole months when `range` is whole months (March -> February, a quarter -> the quarter before),
 * else the same number of days. PREVIOUS_YEAR moves both ends one year back, 29 February to 28 February.
 * Undefined when the result would start before FIRST_DAY.
 */
export function comparisonRange(range: DayBounds, period: ComparisonPeriod): DayBounds | undefined {
  const from = parseDay(range.from);
  const to = parseDay(range.to);
  let result: { from: CalendarDay; to: CalendarDay };
  if (period === ComparisonPeriod.PREVIOUS_YEAR) {
    const yearEarlier = ({ year, month, day }: CalendarDay): CalendarDay => ({
      year: year - 1,
      month,
      day: Math.min(day, daysInMonth(year - 1, month)),
    });
    result = { from: yearEarlier(from), to: yearEarlier(to) };
  } else if (isWholeMonths(range)) {
    const months = (to.year - from.year) * 12 + (to.month - from.month) + 1;
    // Month arithmetic on a month index avoids the year wrap by hand.
    const index = from.year * 12 + (from.month - 1) - months;
    result = {
      from: { year: Math.floor(index / 12), month: (((index % 12) + 12) % 12) + 1, day: 1 },
      to: addDays(from, -1),
    };
  } else {
    const days = dayNumber(to) - dayNumber(from) + 1;
    result = { from: addDays(from, -days), to: addDays(from, -1) };
  }
  if (result.from.year < 1 || formatDay(result.from) < FIRST_DAY) return undefined;
  return { from: formatDay(result.from), to: formatDay(result.to) };
}

/**
 * The report days a range covers once its open ends are taken from the data (its first or last day that has a
 * transaction); null when that leaves no days (no data, or data only outside the one end given).
 */
export function resolveDays(range: DayRange, bounds: DataBounds | undefined): DayBounds | null {
  const from = range.from ?? bounds?.firstDay;
  const to = range.to ?? bounds?.lastDay;
  if (!from || !to || from > to) return null;
  return { from, to };
}

/** The range a comparison covers; BAD_USER_INPUT naming `period` when it would start before FIRST_DAY. */
export function checkedComparisonRange(range: DayBounds, period: ComparisonPeriod): DayBounds {
  const compared = comparisonRange(range, period);
  if (!compared) throw badInput('period', `${period} of ${range.from}..${range.to} would start before ${FIRST_DAY}`);
  return compared;
}
