import type { BucketUnit } from './revenue.repository.js';

/** Upper bound on the points of one series: ten years of days. Longer spans need a coarser granularity. */
export const MAX_SERIES_POINTS = 3_660;

const DAY_MS = 86_400_000;
const dayNumber = (day: string) => Date.parse(`${day}T00:00:00Z`) / DAY_MS;
// Day 0, 1970-01-01, was a Thursday: three days after a Monday.
const mondayOf = (day: number) => day - ((((day + 3) % 7) + 7) % 7);

/** How many buckets (points) a series from `from` to `to` (inclusive days, `from <= to`) has. */
export function bucketCount(from: string, to: string, unit: BucketUnit): number {
  if (unit === 'day') return dayNumber(to) - dayNumber(from) + 1;
  if (unit === 'week') return (mondayOf(dayNumber(to)) - mondayOf(dayNumber(from))) / 7 + 1;
  const [fy, fm] = from.split('-').map(Number) as [number, number];
  const [ty, tm] = to.split('-').map(Number) as [number, number];
  return (ty - fy) * 12 + (tm - fm) + 1;
}
