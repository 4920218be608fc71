// Changes between a figure and the one it is compared with, exactly. Money arrives as the Decimal strings
// PostgreSQL printed (whole cents), so it is worked on as BigInt cents, never as a float. The two figures come
// from two statements that run at the same time (the current one also feeds the dashboard's own fields, so both
// agree); the change is worked out once both are in, here, rather than in a third round trip to PostgreSQL.

export interface Change<T> {
  current: T;
  previous: T;
  difference: T;
  /** difference / previous × 100 as a Decimal string, half away from zero; null when previous is 0. */
  percent: string | null;
}

const DECIMAL = /^(-?)(\d+)\.(\d{2})$/;

function toCents(decimal: string): bigint {
  const match = DECIMAL.exec(decimal);
  if (!match) throw new Error(`not a Decimal with two decimals: ${JSON.stringify(decimal)}`);
  const cents = BigInt(match[2]!) * 100n + BigInt(match[3]!);
  return match[1] ? -cents : cents;
}

/** Hundredths as a Decimal string: 12345n -> "123.45", -5n -> "-0.05", 0n -> "0.00". */
function fromHundredths(value: bigint): string {
  const negative = value < 0n;
  const magnitude = negative ? -value : value;
  const whole = magnitude / 100n;
  const fraction = String(magnitude % 100n).padStart(2, '0');
  return `${negative ? '-' : ''}${whole}.${fraction}`;
}

/** `numerator / denominator` rounded to an integer half away from zero (denominator not 0). */
function divideRounded(numerator: bigint, denominator: bigint): bigint {
  const quotient = numerator / denominator;
  const remainder = numerator % denominator;
  const twice = remainder < 0n ? -2n * remainder : 2n * remainder;
  const divisor = denominator < 0n ? -denominator : denominator;
  if (twice < divisor) return quotient;
  return numerator < 0n === denominator < 0n ? quotient + 1n : quotient - 1n;
}

/** Percent change in hundredths of a percent: difference × 100 × 100 / previous, rounded half away from zero. */
function percentOf(difference: bigint, previous: bigint): string | null {
  if (previous === 0n) return null;
  return fromHundredths(divideRounded(difference * 10_000n, previous));
}

/** The change between two amounts of money (Decimal strings). */
export function moneyChange(current: string, previous: string): Change<string> {
  const difference = toCents(current) - toCents(previous);
  return {
    current,
    previous,
    difference: fromHundredths(difference),
    percent: percentOf(difference, toCents(previous)),
  };
}

/** The change between two counts. */
export function countChange(current: number, previous: number): Change<number> {
  const difference = current - previous;
  return { current, previous, difference, percent: percentOf(BigInt(difference), BigInt(previous)) };
}
