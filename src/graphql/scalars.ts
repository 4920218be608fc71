import { GraphQLScalarType, Kind } from 'graphql';

// Money, days and instants cross the API as strings: exact, and readable in any client without a float.

const DECIMAL = /^-?\d+\.\d{2}$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

// What clients may send (the parse side) is stricter than what the gateway prints: no amount with more digits
// than any sum can have, and days and instants only in the years 1000 to 9999, so that every day derived from
// one (a trend 366 days back, a week's Monday) is still a four-digit year PostgreSQL and the API agree on.
const INPUT_DECIMAL = /^-?(?:0|[1-9]\d{0,29})\.\d{2}$/;
const INPUT_DATE_TIME = /^(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,6})?Z$/;
const MIN_INPUT_YEAR = 1000;
// Longer than any value a scalar accepts: a longer string is refused before any pattern looks at it.
const MAX_INPUT_LENGTH = 40;

// A plain error (not a GraphQLError) lets graphql-js name the expected type and the value it found; the
// error formatter then names the argument and reports BAD_USER_INPUT.
function invalid(message: string): TypeError {
  return new TypeError(message);
}

/**
 * The value as our part of the message shows it. graphql-js already names what it found before it; a long
 * string is not repeated in full.
 */
function shown(value: unknown): string {
  if (typeof value !== 'string') return 'a value that is not a string';
  return value.length > MAX_INPUT_LENGTH ? `a string of ${value.length} characters` : JSON.stringify(value);
}

/** The string a client sent, when it is one short enough to be a value of a scalar. */
function inputString(value: unknown): string | undefined {
  return typeof value === 'string' && value.length <= MAX_INPUT_LENGTH ? value : undefined;
}

/**
 * A value the server produced that its own type cannot represent (a day in the year 10000, an amount that is
 * not money). The server's fault, not the caller's: a plain error, so that the error formatter logs it in full
 * and answers INTERNAL_SERVER_ERROR on this one field, without the value in the message.
 */
export class UnrepresentableValueError extends Error {
  constructor(type: string, value: unknown) {
    super(`${type} cannot represent ${JSON.stringify(value)}`);
    this.name = 'UnrepresentableValueError';
  }
}

function parseDecimal(value: unknown): string {
  const text = inputString(value);
  if (text === undefined || !INPUT_DECIMAL.test(text)) {
    throw invalid(`Decimal must be a string with exactly two decimals, such as "1523.46"; got ${shown(value)}`);
  }
  return text;
}

export const DecimalScalar = new GraphQLScalarType<string, string>({
  name: 'Decimal',
  description:
    'An exact amount of money as a string with exactly two decimals, e.g. "15234567.89". Never a float, so it adds up to the cent.',
  serialize: (value) => {
    if (typeof value !== 'string' || !DECIMAL.test(value)) {
      throw new UnrepresentableValueError('Decimal', value);
    }
    return value;
  },
  parseValue: (value) => parseDecimal(value),
  parseLiteral: (node) => parseDecimal(node.kind === Kind.STRING ? node.value : undefined),
});

/** True when the string is a real calendar day in YYYY-MM-DD form (so 2025-02-30 is not). */
export function isCalendarDate(value: string): boolean {
  const match = DATE.exec(value);
  if (!match) return false;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  if (year < 1 || month < 1 || month > 12 || day < 1) return false;
  const date = new Date(Date.UTC(2000, month - 1, day));
  date.setUTCFullYear(year);
  return date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

/** A calendar day a client may send: YYYY-MM-DD from 1000-01-01 to 9999-12-31. */
function isInputDate(value: string): boolean {
  return isCalendarDate(value) && Number(value.slice(0, 4)) >= MIN_INPUT_YEAR;
}

function parseDate(value: unknown): string {
  const text = inputString(value);
  if (text === undefined || !isInputDate(text)) {
    throw invalid(
      `Date must be a calendar day in YYYY-MM-DD form from 1000-01-01 to 9999-12-31, such as "2025-02-28"; got ${shown(value)}`,
    );
  }
  return text;
}

export const DateScalar = new GraphQLScalarType<string, string>({
  name: 'Date',
  description:
    'A calendar day, YYYY-MM-DD, in the report time zone of the gateway (REPORT_TIMEZONE). Arguments take days from 1000-01-01 to 9999-12-31.',
  serialize: (value) => {
    if (typeof value !== 'string' || !isCalendarDate(value)) {
      throw new UnrepresentableValueError('Date', value);
    }
    return value;
  },
  parseValue: (value) => parseDate(value),
  parseLiteral: (node) => parseDate(node.kind === Kind.STRING ? node.value : undefined),
});

const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$/;

/**
 * An instant a client may send: a real day (2025-02-30 is not one) from the year 1000 to 9999, hours 00-23,
 * minutes and seconds 00-59 (no leap second: PostgreSQL would move it to the next minute), at most
 * microseconds, and Z. JavaScript's Date.parse is no judge: it takes 2025-02-30 for 2 March.
 */
export function isInputDateTime(value: string): boolean {
  const match = INPUT_DATE_TIME.exec(value);
  if (!match || !isInputDate(match[1]!)) return false;
  return Number(match[2]) <= 23 && Number(match[3]) <= 59 && Number(match[4]) <= 59;
}

function parseDateTime(value: unknown): string {
  const text = inputString(value);
  if (text === undefined || !isInputDateTime(text)) {
    throw invalid(
      `DateTime must be ISO 8601 in UTC from the year 1000 to 9999, such as "2025-11-20T09:15:00Z"; got ${shown(value)}`,
    );
  }
  return text;
}

export const DateTimeScalar = new GraphQLScalarType<string, string>({
  name: 'DateTime',
  description:
    'An instant in ISO 8601, always in UTC with a Z suffix, e.g. "2025-11-20T09:15:00.000Z". Arguments take instants of the years 1000 to 9999, to the microsecond at most.',
  serialize: (value) => {
    if (typeof value !== 'string' || !DATE_TIME.test(value)) {
      throw new UnrepresentableValueError('DateTime', value);
    }
    return value;
  },
  parseValue: (value) => parseDateTime(value),
  parseLiteral: (node) => parseDateTime(node.kind === Kind.STRING ? node.value : undefined),
});
