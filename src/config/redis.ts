import { z } from 'zod';
import {
  optionalBoolean,
  optionalNonNegativeInt,
  optionalSecret,
  optionalText,
  optionalUrl,
  positiveInt,
  type Parsed,
  type Variables,
} from './variables.js';

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
    const entries = (value ?? '')
      .split(',')
      .map((entry) => entry.trim())
      .filter(Boolean);
    const addresses = entries.map(parseHostPort);
    const malformed = entries.filter((_, i) => addresses[i] === undefined);
    if (malformed.length > 0) {
      context.addIssue({
        code: 'custom',
        message: `must be a comma-separated list of host:port; not host:port: ${malformed.map((m) => `'${m}'`).join(', ')}`,
      });
      return z.NEVER;
    }
    return addresses as RedisAddress[];
  });

/** Redis, shared by the response cache and the rate budgets: by URL, or through Sentinel. */
export const redisVariables = {
  REDIS_URL: optionalUrl.refine((url) => url === undefined || /^rediss?:/.test(url), {
    message: 'must be a redis:// or rediss:// URL',
  }),
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
  REDIS_COMMAND_TIMEOUT_MS: positiveInt.default(100),
} satisfies Variables;

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

/** The Redis the variables name, or undefined for none (the in-process LRU). */
function redisConnection(env: Parsed<typeof redisVariables>): RedisConnection | undefined {
  const credentials = {
    ...(env.REDIS_USERNAME === undefined ? {} : { username: env.REDIS_USERNAME }),
    ...(env.REDIS_PASSWORD === undefined ? {} : { password: env.REDIS_PASSWORD }),
  };
  if (env.REDIS_SENTINELS.length > 0) {
    return {
      kind: 'sentinel',
      sentinels: env.REDIS_SENTINELS,
      masterName: env.REDIS_SENTINEL_NAME!,
      ...credentials,
      ...(env.REDIS_SENTINEL_USERNAME === undefined ? {} : { sentinelUsername: env.REDIS_SENTINEL_USERNAME }),
      ...(env.REDIS_SENTINEL_PASSWORD === undefined ? {} : { sentinelPassword: env.REDIS_SENTINEL_PASSWORD }),
      db: env.REDIS_DB ?? 0,
      tls: env.REDIS_TLS ?? false,
    };
  }
  if (env.REDIS_URL) {
    return {
      kind: 'url',
      url: env.REDIS_URL,
      ...credentials,
      ...(env.REDIS_DB === undefined ? {} : { db: env.REDIS_DB }),
    };
  }
  return undefined;
}

export function redisConfig(env: Parsed<typeof redisVariables>) {
  return {
    /** undefined: no Redis (the cache is an LRU in this process, budgets are counted per gateway). */
    connection: redisConnection(env),
    commandTimeoutMs: env.REDIS_COMMAND_TIMEOUT_MS,
  };
}

export type RedisConfig = ReturnType<typeof redisConfig>;

/** What contradicts itself, or would be silently ignored, among the Redis variables. */
export function redisProblems(env: Partial<Parsed<typeof redisVariables>>, given: (name: string) => boolean): string[] {
  const problems: string[] = [];
  const sentinels = given('REDIS_SENTINELS');
  const url = given('REDIS_URL');
  if (url && sentinels) problems.push('REDIS_URL, REDIS_SENTINELS: set one of them, not both');
  if (sentinels && !given('REDIS_SENTINEL_NAME')) {
    problems.push(
      'REDIS_SENTINEL_NAME: required with REDIS_SENTINELS (the name the Sentinels monitor the master under)',
    );
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
  if (env.REDIS_URL) {
    // One place for each setting: a variable that repeats a part of the URL is refused rather than ranked
    // against it, so that nobody has to know which of the two wins.
    const parsed = new URL(env.REDIS_URL);
    const urlHasCredentials = parsed.username !== '' || parsed.password !== '' || parsed.searchParams.has('password');
    for (const name of ['REDIS_USERNAME', 'REDIS_PASSWORD'] as const) {
      if (given(name) && urlHasCredentials)
        problems.push(`${name}: REDIS_URL carries credentials already; give them in one place`);
    }
    if (given('REDIS_DB') && (parsed.pathname.length > 1 || parsed.searchParams.has('db'))) {
      problems.push('REDIS_DB: REDIS_URL names a database already (its path)');
    }
    const urlTls = parsed.protocol === 'rediss:';
    if (env.REDIS_TLS !== undefined && env.REDIS_TLS !== urlTls) {
      problems.push(
        `REDIS_TLS: is ${env.REDIS_TLS} but REDIS_URL is ${parsed.protocol}//; with a URL its scheme decides (rediss:// for TLS)`,
      );
    }
  }
  return problems;
}
