import { z } from 'zod';

// The one place that reads process.env. Every problem is reported at once, before anything starts.

/** Whether `zone` is an IANA time zone name this runtime knows. */
export const isTimeZone = (zone: string) => {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
};

/** Signs cursors when CURSOR_SECRET is not set: anybody who reads this file can sign cursors with it. */
export const DEFAULT_CURSOR_SECRET = 'marketpulse-cursor-integrity';

const port = z.coerce.number().int().min(0).max(65_535);
const positiveInt = z.coerce.number().int().positive();
const nonNegativeInt = z.coerce.number().int().min(0);
const optionalUrl = z
  .string()
  .trim()
  .transform((value) => (value === '' ? undefined : value))
  .pipe(z.url({ protocol: /^(postgres|postgresql|redis|rediss)$/ }).optional())
  .optional();

const optionalText = z
  .string()
  .trim()
  .transform((value) => (value === '' ? undefined : value))
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
  // On SIGTERM/SIGINT: keep serving this long with /readyz at 503 so load balancers notice, then drain.
  SHUTDOWN_DELAY_MS: nonNegativeInt.default(0),
  // The longest a shutdown may take; past it the process exits 1 with whatever is still in flight.
  SHUTDOWN_GRACE_MS: positiveInt.default(10_000),
  // The longest a client may take to send a request's headers and body; answers and WebSockets are not timed.
  REQUEST_READ_TIMEOUT_MS: positiveInt.default(10_000),
  CURSOR_SECRET: z.string().min(16).default(DEFAULT_CURSOR_SECRET),
  REDIS_URL: optionalUrl.refine((url) => url === undefined || /^rediss?:/.test(url), { message: 'must be a redis:// or rediss:// URL' }),
  CACHE_TTL_SECONDS: nonNegativeInt.default(60),
  CACHE_KEY_PREFIX: z.string().default('marketpulse:'),
  CACHE_MAX_MB: positiveInt.default(64),
  REDIS_COMMAND_TIMEOUT_MS: positiveInt.default(100),
  // The longest document an automatic persisted query may register (src/cache/persisted-documents.ts).
  PERSISTED_QUERY_MAX_BYTES: nonNegativeInt.default(8 * 1024),
  AUTH_MODE: z.enum(['none', 'required']).default('none'),
  JWT_SECRET: optionalText.pipe(z.string().min(32, { message: 'must be at least 32 characters' }).optional()),
  JWT_JWKS_URL: optionalText.pipe(z.url({ protocol: /^https?$/ }).optional()),
  JWT_ISSUER: optionalText,
  JWT_AUDIENCE: optionalText,
  JWT_ROLE_CLAIM: z.string().min(1).default('role'),
  // API-key lookups that may find nothing per client address and minute before its keys go unread; 0: no limit.
  API_KEY_FAILURES_PER_MINUTE: nonNegativeInt.default(20),
  QUERY_MAX_DEPTH: positiveInt.default(10),
  QUERY_MAX_COST: positiveInt.default(5_000),
  QUERY_MAX_ALIASES: nonNegativeInt.default(15),
  QUERY_MAX_TOKENS: positiveInt.default(2_000),
  QUERY_MAX_DIRECTIVES: nonNegativeInt.default(50),
  // Comments are not tokens: a document's length is limited by itself.
  QUERY_MAX_BYTES: positiveInt.default(32 * 1024),
  BODY_LIMIT_BYTES: positiveInt.default(100 * 1024),
  // Parsed and validated documents kept for reuse, counted by what they keep alive (src/graphql/document-store.ts).
  DOCUMENT_CACHE_MB: positiveInt.default(32),
  // Comma-separated origins (scheme://host[:port]) whose browser pages may call the gateway.
  CORS_ORIGINS: z
    .string()
    .optional()
    .transform((value) => (value ?? '').split(',').map((origin) => origin.trim()).filter(Boolean))
    .pipe(z.array(z.url({ protocol: /^https?$/ }).refine((origin) => new URL(origin).origin === origin, { message: 'must be an origin: scheme://host[:port], no path or trailing slash' }))),
  RATE_LIMIT_POINTS: nonNegativeInt.default(20_000),
  RATE_LIMIT_WINDOW_SECONDS: positiveInt.default(60),
  AUDIT_FLUSH_INTERVAL_MS: positiveInt.default(1_000),
  AUDIT_BATCH_SIZE: positiveInt.default(500),
  AUDIT_RETENTION_DAYS: nonNegativeInt.default(365),
  // Fastify's trustProxy: false, true (trust every proxy), or a comma-separated list of proxy addresses/CIDRs.
  TRUST_PROXY: z
    .string()
    .trim()
    .optional()
    .transform((value): boolean | string => {
      if (value === undefined || value === '' || value === 'false') return false;
      return value === 'true' ? true : value;
    }),
  SUBSCRIPTION_DEBOUNCE_MS: nonNegativeInt.default(250),
  SUBSCRIPTION_MAX_WAIT_MS: positiveInt.default(2_000),
  SUBSCRIPTIONS_MAX_PER_CONNECTION: positiveInt.default(10),
  SUBSCRIPTIONS_MAX_PER_INSTANCE: positiveInt.default(10_000),
  // Per gateway: one API key, JWT subject or (unauthenticated) client address cannot take every place.
  SUBSCRIPTIONS_MAX_PER_PRINCIPAL: positiveInt.default(100),
  // 0 turns the server's pings (and so the dead-socket check) off.
  SUBSCRIPTION_KEEPALIVE_MS: nonNegativeInt.default(12_000),
  SUBSCRIPTION_INIT_TIMEOUT_MS: positiveInt.default(3_000),
  // 0 keeps sockets without subscriptions open for ever.
  SUBSCRIPTION_IDLE_TIMEOUT_MS: nonNegativeInt.default(300_000),
  // 0: credentials are checked only when a socket initialises and when it subscribes.
  SUBSCRIPTION_REAUTH_INTERVAL_MS: nonNegativeInt.default(60_000),
  // Unset: introspection follows NODE_ENV (off in production).
  INTROSPECTION: z
    .enum(['true', 'false', ''])
    .optional()
    .transform((value) => (value === undefined || value === '' ? undefined : value === 'true')),
});

export type Config = z.infer<typeof schema>;

/** Every variable the gateway reads (the README's configuration table documents each). */
export const CONFIG_VARIABLES = Object.keys(schema.shape) as (keyof Config)[];

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
  const config = result.data;
  const problems: string[] = [];
  if (config.JWT_SECRET && config.JWT_JWKS_URL) problems.push('JWT_SECRET, JWT_JWKS_URL: set one of them, not both');
  // A token from anybody's identity provider, or meant for another service, must not be accepted here.
  if ((config.JWT_SECRET || config.JWT_JWKS_URL) && !(config.JWT_ISSUER && config.JWT_AUDIENCE)) {
    problems.push('JWT_ISSUER, JWT_AUDIENCE: both are required when tokens are accepted (JWT_SECRET or JWT_JWKS_URL)');
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** The configuration with secrets masked, for logging at start-up. */
export function redactConfig(config: Config): Record<string, unknown> {
  const redacted: Record<string, unknown> = {
    ...config,
    CURSOR_SECRET: '[redacted]',
    ...(config.JWT_SECRET ? { JWT_SECRET: '[redacted]' } : {}),
  };
  if (config.DATABASE_URL) redacted.DATABASE_URL = maskPassword(config.DATABASE_URL);
  if (config.REDIS_URL) redacted.REDIS_URL = maskPassword(config.REDIS_URL);
  return redacted;
}

/** The URL with its password, if any, replaced by `***`; throws on a string that is not a URL. */
export function maskPassword(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}

/** What the one-shot data commands (seed, ingest) read: the database and the report zone, nothing else. */
export interface ToolEnvironment {
  databaseUrl: string | undefined;
  reportTimezone: string;
}

/**
 * The environment of a one-shot data command. Only these two variables, and unvalidated here: the commands
 * check them and answer with their own usage errors, and a server setting they never use (a bad JWT_SECRET,
 * say) must not stop an ETL job.
 */
export function readToolEnvironment(env: NodeJS.ProcessEnv = process.env): ToolEnvironment {
  return { databaseUrl: env.DATABASE_URL?.trim() || undefined, reportTimezone: env.REPORT_TIMEZONE?.trim() || 'UTC' };
}
