import { z } from 'zod';

// The zod types environment variables are read with. Every default is written where a variable is declared, in
// the file of its concern (server.ts, database.ts, ...), and nowhere else.

/** Whether `zone` is an IANA time zone name this runtime knows. */
export const isTimeZone = (zone: string) => {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
};

export const port = z.coerce.number().int().min(0).max(65_535);
export const positiveInt = z.coerce.number().int().positive();
export const nonNegativeInt = z.coerce.number().int().min(0);

export const optionalUrl = z
  .string()
  .trim()
  .transform((value) => (value === '' ? undefined : value))
  .pipe(z.url({ protocol: /^(postgres|postgresql|redis|rediss)$/ }).optional())
  .optional();

export const optionalText = z
  .string()
  .trim()
  .transform((value) => (value === '' ? undefined : value))
  .optional();

// A secret is taken as given, spaces included; only an empty value counts as unset.
export const optionalSecret = z
  .string()
  .transform((value) => (value === '' ? undefined : value))
  .optional();

export const optionalBoolean = z
  .enum(['true', 'false', ''])
  .optional()
  .transform((value) => (value === undefined || value === '' ? undefined : value === 'true'));

export const optionalNonNegativeInt = z.preprocess(
  (value) => (typeof value === 'string' && value.trim() === '' ? undefined : value),
  nonNegativeInt.optional(),
);

/**
 * The URL with its password, if any, replaced by `***` (in the user info, and a `password` query parameter,
 * which node-postgres and ioredis also read); throws on a string that is not a URL.
 */
export function maskPassword(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  if (parsed.searchParams.has('password')) parsed.searchParams.set('password', '***');
  return parsed.toString();
}

/** A concern's variables: each one parsed on its own, so that one bad value does not hide the others' problems. */
export type Variables = Record<string, z.ZodType>;

/** The values of a concern's variables, as parsed. */
export type Parsed<V extends Variables> = { [K in keyof V]: z.output<V[K]> };
