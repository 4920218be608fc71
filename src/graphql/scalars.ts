import { GraphQLScalarType, Kind } from 'graphql';

// Money, days and instants cross the API as strings: exact, and readable in any client without a float.

const DECIMAL = /^-?\d+\.\d{2}$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

// A plain error (not a GraphQLError) lets graphql-js name the expected type and the value it found; the
// error formatter then names the argument and reports BAD_USER_INPUT.
function invalid(message: string): TypeError {
  return new TypeError(message);
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
  if (typeof value !== 'string' || !DECIMAL.test(value)) {
    throw invalid(`Decimal must be a string with exactly two decimals, such as "1523.46"; got ${JSON.stringify(value)}`);
  }
  return value;
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

function parseDate(value: unknown): string {
  if (typeof value !== 'string' || !isCalendarDate(value)) {
    throw invalid(`Date must be a calendar day in YYYY-MM-DD form, such as "2025-02-28"; got ${JSON.stringify(value)}`);
  }
  return value;
}

export const DateScalar = new GraphQLScalarType<string, string>({
  name: 'Date',
  description: 'A calendar day, YYYY-MM-DD, in the report time zone of the gateway (REPORT_TIMEZONE).',
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

export const DateTimeScalar = new GraphQLScalarType<string, string>({
  name: 'DateTime',
  description: 'An instant in ISO 8601, always in UTC with a Z suffix, e.g. "2025-11-20T09:15:00.000Z".',
  serialize: (value) => {
    if (typeof value !== 'string' || !DATE_TIME.test(value)) {
      throw new UnrepresentableValueError('DateTime', value);
    }
    return value;
  },
  parseValue: (value) => {
    if (typeof value !== 'string' || !DATE_TIME.test(value) || Number.isNaN(Date.parse(value))) {
      throw invalid(`DateTime must be ISO 8601 in UTC, such as "2025-11-20T09:15:00Z"; got ${JSON.stringify(value)}`);
    }
    return value;
  },
  parseLiteral: (node) => {
    const value = node.kind === Kind.STRING ? node.value : undefined;
    if (typeof value !== 'string' || !DATE_TIME.test(value) || Number.isNaN(Date.parse(value))) {
      throw invalid(`DateTime must be ISO 8601 in UTC, such as "2025-11-20T09:15:00Z"; got ${JSON.stringify(value)}`);
    }
    return value;
  },
});
