import { z } from 'zod';

// The one place that reads process.env. Every problem is reported at once, before anything starts.

const isTimeZone = (zone: string) => {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
};

const port = z.coerce.number().int().min(0).max(65_535);
const positiveInt = z.coerce.number().int().positive();
const nonNegativeInt = z.coerce.number().int().min(0);
const optionalUrl = z
  .string()
  .trim()
  .transform((value) => (value === '' ? undefined : value))
  .pipe(z.url({ protocol: /^(postgres|postgresql|redis|rediss)$/ }).optional())
  .optional();

const schema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  HOST: z.string().min(1).default('localhost'),
  PORT: port.default(4000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DATABASE_URL: optionalUrl,
  DATA_DIR: z.string().min(1).default('.data'),
  EMBEDDED_SEED_TRANSACTIONS: positiveInt.default(10_000),
  REPORT_TIMEZONE: z
    .string()
    .default('UTC')
    .refine(isTimeZone, { message: 'must be an IANA time zone name such as UTC or Asia/Jerusalem' }),
  PG_POOL_MAX: positiveInt.default(10),
  PG_CONNECT_TIMEOUT_MS: positiveInt.default(5_000),
  PG_STATEMENT_TIMEOUT_MS: positiveInt.default(30_000),
  HEALTH_TIMEOUT_MS: positiveInt.default(2_000),
  CURSOR_SECRET: z.string().min(16).default('marketpulse-cursor-integrity'),
  REDIS_URL: optionalUrl.refine((url) => url === undefined || /^rediss?:/.test(url), { message: 'must be a redis:// or rediss:// URL' }),
  CACHE_TTL_SECONDS: nonNegativeInt.default(60),
  CACHE_KEY_PREFIX: z.string().default('marketpulse:'),
  CACHE_MAX_MB: positiveInt.default(64),
  REDIS_COMMAND_TIMEOUT_MS: positiveInt.default(100),
});

export type Config = z.infer<typeof schema>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const result = schema.safeParse(env);
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`));
  }
  return result.data;
}

/** The configuration with secrets masked, for logging at start-up. */
export function redactConfig(config: Config): Record<string, unknown> {
  const redacted: Record<string, unknown> = { ...config, CURSOR_SECRET: '[redacted]' };
  if (config.DATABASE_URL) {
    const url = new URL(config.DATABASE_URL);
    if (url.password) url.password = '***';
    redacted.DATABASE_URL = url.toString();
  }
  if (config.REDIS_URL) {
    const url = new URL(config.REDIS_URL);
    if (url.password) url.password = '***';
    redacted.REDIS_URL = url.toString();
  }
  return redacted;
}
