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

const optionalPostgresUrl = optionalUrl.refine((url) => url === undefined || /^postgres(ql)?:/.test(url), {
  message: 'must be a postgres:// or postgresql:// URL',
});

// Comma-separated PostgreSQL URLs; every malformed entry is named in one problem (passwords masked).
const postgresUrlList = z
  .string()
  .optional()
  .transform((value, context) => {
    const entries = (value ?? '').split(',').map((entry) => entry.trim()).filter(Boolean);
    const malformed = entries.filter((entry) => !/^postgres(ql)?:\/\/./.test(entry) || !URL.canParse(entry));
    if (malformed.length > 0) {
      const shown = malformed.map((entry) => `'${URL.canParse(entry) ? maskPassword(entry) : entry.replace(/:[^:@/]*@/, ':***@')}'`);
      context.addIssue({ code: 'custom', message: `must be a comma-separated list of postgres:// or postgresql:// URLs; not one: ${shown.join(', ')}` });
      return z.NEVER;
    }
    return entries;
  });

const optionalText = z
  .string()
  .trim()
  .transform((value) => (value === '' ? undefined : value))
  .optional();

// A secret is taken as given, spaces included; only an empty value counts as unset.
const optionalSecret = z
  .string()
  .transform((value) => (value === '' ? undefined : value))
  .optional();

const optionalBoolean = z
  .enum(['true', 'false', ''])
  .optional()
  .transform((value) => (value === undefined || value === '' ? undefined : value === 'true'));

const optionalNonNegativeInt = z.preprocess((value) => (typeof value === 'string' && value.trim() === '' ? undefined : value), nonNegativeInt.optional());

export interface RedisAddress {
  host: string;
  port: number;
}

/** `host:port`, the host a name, an IPv4 address or a bracketed IPv6 address; undefined when it is not that. */
export function parseHostPort(text: string): RedisAddress | undefined {
  const match = /^(\[[0-9A-Fa-f:.]+\]|[^\s:[\]]+):(\d{1,5})$/.exec(text);
  if (!match) return undefined;
  const port = Number(match[2]);
  if (port < 1 || port > 65_535) return undefined;
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port };
}

// Comma-separated host:port; every malformed entry is named in one problem.
const sentinelList = z
  .string()
  .optional()
  .transform((value, context) => {
    const entries = (value ?? '').split(',').map((entry) => entry.trim()).filter(Boolean);
    const addresses = entries.map(parseHostPort);
    const malformed = entries.filter((_, i) => addresses[i] === undefined);
    if (malformed.length > 0) {
      context.addIssue({ code: 'custom', message: `must be a comma-separated list of host:port; not host:port: ${malformed.map((m) => `'${m}'`).join(', ')}` });
      return z.NEVER;
    }
    return addresses as RedisAddress[];
  });

const schema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  HOST: z.string().min(1).default('localhost'),
  PORT: port.default(4000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DATABASE_URL: optionalPostgresUrl,
  // A direct (unpooled) URL of the same database, for what needs a session of its own: the change listener,
  // migrations, the rollups and the other commands. Unset: DATABASE_URL.
  DATABASE_DIRECT_URL: optionalPostgresUrl,
  // Streaming replicas of DATABASE_URL's database that report reads go to (src/db/read-replicas.ts).
  DATABASE_READ_URL: postgresUrlList,
  // How long a report read may wait for a replica to replay the current data version before it goes to the primary.
  READ_REPLICA_MAX_WAIT_MS: nonNegativeInt.default(0),
  // false: unnamed statements, for PgBouncer before 1.21 in transaction mode.
  PG_PREPARED_STATEMENTS: z
    .enum(['true', 'false', ''])
    .optional()
    .transform((value) => value !== 'false'),
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
  // Redis through Sentinel, instead of REDIS_URL: the Sentinels' addresses and the name they monitor the master under.
  REDIS_SENTINELS: sentinelList,
  REDIS_SENTINEL_NAME: optionalText,
  REDIS_SENTINEL_USERNAME: optionalText,
  REDIS_SENTINEL_PASSWORD: optionalSecret,
  // The data nodes' credentials, database and TLS, with REDIS_SENTINELS or REDIS_URL (where the URL does not carry them).
  REDIS_USERNAME: optionalText,
  REDIS_PASSWORD: optionalSecret,
  REDIS_DB: optionalNonNegativeInt,
  REDIS_TLS: optionalBoolean,
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
  // Parsed and validated documents kept for reuse, counted by what they keep alive (src/cache/document-store.ts).
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
  // Unset: who may introspect follows NODE_ENV, AUTH_MODE and SANDBOX (src/graphql/introspection.ts); set, it
  // is the answer for every caller.
  INTROSPECTION: optionalBoolean,
  // Unset: Apollo Sandbox is served outside production only.
  SANDBOX: optionalBoolean,
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
  // Each variable is parsed on its own, so that one bad value does not hide the problems between the others.
  const problems: string[] = [];
  const values: Record<string, unknown> = {};
  const invalid = new Set<string>();
  for (const [name, field] of Object.entries(schema.shape)) {
    const result = field.safeParse(env[name]);
    if (result.success) {
      values[name] = result.data;
    } else {
      invalid.add(name);
      problems.push(...result.error.issues.map((issue) => `${[name, ...issue.path].join('.')}: ${issue.message}`));
    }
  }
  const config = values as Partial<Config>;
  /** Whether a variable was given, a value that failed to parse included. */
  const given = (name: keyof Config) => {
    const value = config[name];
    return invalid.has(name) || (value !== undefined && !(Array.isArray(value) && value.length === 0));
  };
  if (given('JWT_SECRET') && given('JWT_JWKS_URL')) problems.push('JWT_SECRET, JWT_JWKS_URL: set one of them, not both');
  // A token from anybody's identity provider, or meant for another service, must not be accepted here.
  if ((given('JWT_SECRET') || given('JWT_JWKS_URL')) && !(config.JWT_ISSUER && config.JWT_AUDIENCE)) {
    problems.push('JWT_ISSUER, JWT_AUDIENCE: both are required when tokens are accepted (JWT_SECRET or JWT_JWKS_URL)');
  }
  if (given('DATABASE_DIRECT_URL') && !given('DATABASE_URL')) {
    problems.push('DATABASE_DIRECT_URL: only used with DATABASE_URL, which is not set (the embedded database has no URL)');
  }
  if (given('DATABASE_READ_URL') && !given('DATABASE_URL')) {
    problems.push('DATABASE_READ_URL: only used with DATABASE_URL, which is not set (the embedded database has no replicas)');
  }
  problems.push(...redisProblems(config, given));
  if (problems.length > 0) throw new ConfigError(problems);
  return config as Config;
}

/** What contradicts itself, or would be silently ignored, among the Redis variables. */
function redisProblems(config: Partial<Config>, given: (name: keyof Config) => boolean): string[] {
  const problems: string[] = [];
  const sentinels = given('REDIS_SENTINELS');
  const url = given('REDIS_URL');
  if (url && sentinels) problems.push('REDIS_URL, REDIS_SENTINELS: set one of them, not both');
  if (sentinels && !given('REDIS_SENTINEL_NAME')) {
    problems.push('REDIS_SENTINEL_NAME: required with REDIS_SENTINELS (the name the Sentinels monitor the master under)');
  }
  if (!sentinels) {
    for (const name of ['REDIS_SENTINEL_NAME', 'REDIS_SENTINEL_USERNAME', 'REDIS_SENTINEL_PASSWORD'] as const) {
      if (given(name)) problems.push(`${name}: only used with REDIS_SENTINELS, which is not set`);
    }
  }
  if (!sentinels && !url) {
    for (const name of ['REDIS_USERNAME', 'REDIS_PASSWORD', 'REDIS_DB', 'REDIS_TLS'] as const) {
      if (given(name)) problems.push(`${name}: only used with REDIS_URL or REDIS_SENTINELS, and neither is set`);
    }
  }
  // AUTH with a user name and no password fails on the server; say so before connecting.
  if (given('REDIS_USERNAME') && !given('REDIS_PASSWORD')) problems.push('REDIS_USERNAME: needs REDIS_PASSWORD');
  if (given('REDIS_SENTINEL_USERNAME') && !given('REDIS_SENTINEL_PASSWORD')) {
    problems.push('REDIS_SENTINEL_USERNAME: needs REDIS_SENTINEL_PASSWORD');
  }
  if (config.REDIS_URL) {
    // One place for each setting: a variable that repeats a part of the URL is refused rather than ranked
    // against it, so that nobody has to know which of the two wins.
    const parsed = new URL(config.REDIS_URL);
    const urlHasCredentials = parsed.username !== '' || parsed.password !== '' || parsed.searchParams.has('password');
    for (const name of ['REDIS_USERNAME', 'REDIS_PASSWORD'] as const) {
      if (given(name) && urlHasCredentials) problems.push(`${name}: REDIS_URL carries credentials already; give them in one place`);
    }
    if (given('REDIS_DB') && (parsed.pathname.length > 1 || parsed.searchParams.has('db'))) {
      problems.push('REDIS_DB: REDIS_URL names a database already (its path)');
    }
    const urlTls = parsed.protocol === 'rediss:';
    if (config.REDIS_TLS !== undefined && config.REDIS_TLS !== urlTls) {
      problems.push(`REDIS_TLS: is ${config.REDIS_TLS} but REDIS_URL is ${parsed.protocol}//; with a URL its scheme decides (rediss:// for TLS)`);
    }
  }
  return problems;
}

/** How to reach Redis: a URL (with the parts it does not carry), or Sentinels and the master's name. */
export type RedisConnection =
  | { kind: 'url'; url: string; username?: string; password?: string; db?: number }
  | {
      kind: 'sentinel';
      sentinels: RedisAddress[];
      masterName: string;
      username?: string;
      password?: string;
      sentinelUsername?: string;
      sentinelPassword?: string;
      db: number;
      /** TLS to the Sentinels and to the data nodes alike. */
      tls: boolean;
    };

/** The Redis a loaded configuration names, or undefined for none (the in-process LRU). */
export function redisConnection(config: Config): RedisConnection | undefined {
  const credentials = {
    ...(config.REDIS_USERNAME === undefined ? {} : { username: config.REDIS_USERNAME }),
    ...(config.REDIS_PASSWORD === undefined ? {} : { password: config.REDIS_PASSWORD }),
  };
  if (config.REDIS_SENTINELS.length > 0) {
    return {
      kind: 'sentinel',
      sentinels: config.REDIS_SENTINELS,
      masterName: config.REDIS_SENTINEL_NAME!,
      ...credentials,
      ...(config.REDIS_SENTINEL_USERNAME === undefined ? {} : { sentinelUsername: config.REDIS_SENTINEL_USERNAME }),
      ...(config.REDIS_SENTINEL_PASSWORD === undefined ? {} : { sentinelPassword: config.REDIS_SENTINEL_PASSWORD }),
      db: config.REDIS_DB ?? 0,
      tls: config.REDIS_TLS ?? false,
    };
  }
  if (config.REDIS_URL) {
    return { kind: 'url', url: config.REDIS_URL, ...credentials, ...(config.REDIS_DB === undefined ? {} : { db: config.REDIS_DB }) };
  }
  return undefined;
}

/** The configuration with secrets masked, for logging at start-up. */
export function redactConfig(config: Config): Record<string, unknown> {
  const redacted: Record<string, unknown> = {
    ...config,
    CURSOR_SECRET: '[redacted]',
    ...(config.JWT_SECRET ? { JWT_SECRET: '[redacted]' } : {}),
  };
  if (config.DATABASE_URL) redacted.DATABASE_URL = maskPassword(config.DATABASE_URL);
  if (config.DATABASE_DIRECT_URL) redacted.DATABASE_DIRECT_URL = maskPassword(config.DATABASE_DIRECT_URL);
  redacted.DATABASE_READ_URL = config.DATABASE_READ_URL.map(maskPassword);
  if (config.REDIS_URL) redacted.REDIS_URL = maskPassword(config.REDIS_URL);
  for (const name of ['REDIS_PASSWORD', 'REDIS_SENTINEL_PASSWORD'] as const) {
    if (config[name] !== undefined) redacted[name] = '[redacted]';
  }
  return redacted;
}

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

/** How the gateway reaches PostgreSQL: DATABASE_URL, perhaps through a pooler, and a direct URL for sessions. */
export interface PostgresConnection {
  url: string;
  /** DATABASE_DIRECT_URL, or DATABASE_URL when it is not set. */
  directUrl: string;
  /**
   * DATABASE_URL leads to a pooler: a DATABASE_DIRECT_URL other than it says so. A transaction pooler keeps no
   * session for a client, so the listener needs a direct URL anyway: a pooler without one cannot serve the gateway.
   */
  pooled: boolean;
  preparedStatements: boolean;
  /** DATABASE_READ_URL: streaming replicas for report reads, each reached like `url` (directly, or through a pooler). */
  readUrls: string[];
}

/** The PostgreSQL a loaded configuration names, or undefined for the embedded database. */
export function postgresConnection(config: Config): PostgresConnection | undefined {
  if (!config.DATABASE_URL) return undefined;
  const directUrl = config.DATABASE_DIRECT_URL ?? config.DATABASE_URL;
  return { url: config.DATABASE_URL, directUrl, pooled: directUrl !== config.DATABASE_URL, preparedStatements: config.PG_PREPARED_STATEMENTS, readUrls: config.DATABASE_READ_URL };
}

/** What the one-shot data commands (seed, ingest, rollups) read: the database, nothing else. */
export interface ToolEnvironment {
  /** DATABASE_DIRECT_URL when set (the commands run long statements, on sessions of their own), else DATABASE_URL. */
  databaseUrl: string | undefined;
}

/**
 * The environment of a one-shot data command. Only the database's URLs, and unvalidated here: the commands
 * check them and answer with their own usage errors, and a server setting they never use (a bad JWT_SECRET,
 * say) must not stop an ETL job.
 */
export function readToolEnvironment(env: NodeJS.ProcessEnv = process.env): ToolEnvironment {
  return { databaseUrl: env.DATABASE_DIRECT_URL?.trim() || env.DATABASE_URL?.trim() || undefined };
}
