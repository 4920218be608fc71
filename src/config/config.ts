import { auditConfig, auditVariables } from './audit.js';
import { authConfig, authProblems, authVariables } from './auth.js';
import { cacheConfig, cacheVariables } from './cache.js';
import { databaseConfig, databaseProblems, databaseVariables } from './database.js';
import { limitsConfig, limitsVariables } from './limits.js';
import { redisConfig, redisProblems, redisVariables } from './redis.js';
import { serverConfig, serverVariables } from './server.js';
import { subscriptionConfig, subscriptionVariables } from './subscriptions.js';
import { maskPassword, type Parsed } from './variables.js';

// The one place that reads process.env. Every variable is declared, with its default, in the file of its concern;
// here they are read, every problem is reported at once, before anything starts, and the values are handed out
// per concern (config.database, config.cache, ...). The variables' names are the README's.

const variables = {
  ...serverVariables,
  ...databaseVariables,
  ...redisVariables,
  ...cacheVariables,
  ...authVariables,
  ...limitsVariables,
  ...auditVariables,
  ...subscriptionVariables,
};

/** The variables as read, one field each. */
export type Environment = Parsed<typeof variables>;
export type ConfigVariable = keyof Environment;

/** Every variable the gateway reads (the README's configuration table documents each). */
export const CONFIG_VARIABLES = Object.keys(variables) as ConfigVariable[];

function nest(env: Environment) {
  return {
    server: serverConfig(env),
    database: databaseConfig(env),
    redis: redisConfig(env),
    cache: cacheConfig(env),
    auth: authConfig(env),
    limits: limitsConfig(env),
    audit: auditConfig(env),
    subscriptions: subscriptionConfig(env),
  };
}

/** The configuration, per concern. */
export type Config = ReturnType<typeof nest>;

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
  for (const [name, field] of Object.entries(variables)) {
    const result = field.safeParse(env[name]);
    if (result.success) {
      values[name] = result.data;
    } else {
      invalid.add(name);
      problems.push(...result.error.issues.map((issue) => `${[name, ...issue.path].join('.')}: ${issue.message}`));
    }
  }
  const parsed = values as Partial<Environment>;
  /** Whether a variable was given, a value that failed to parse included. */
  const given = (name: string) => {
    const value = values[name];
    return invalid.has(name) || (value !== undefined && !(Array.isArray(value) && value.length === 0));
  };
  problems.push(...authProblems(parsed, given), ...databaseProblems(given), ...redisProblems(parsed, given));
  if (problems.length > 0) throw new ConfigError(problems);
  return nest(parsed as Environment);
}

/** The configuration with secrets masked, for logging at start-up. */
export function redactConfig(config: Config): Record<string, unknown> {
  const { postgres } = config.database;
  const { connection } = config.redis;
  return {
    ...config,
    database: {
      ...config.database,
      postgres: postgres && {
        ...postgres,
        url: maskPassword(postgres.url),
        directUrl: maskPassword(postgres.directUrl),
        readUrls: postgres.readUrls.map(maskPassword),
      },
    },
    redis: {
      ...config.redis,
      connection: connection && {
        ...connection,
        ...(connection.kind === 'url' ? { url: maskPassword(connection.url) } : {}),
        ...(connection.password === undefined ? {} : { password: '[redacted]' }),
        ...(connection.kind === 'sentinel' && connection.sentinelPassword !== undefined
          ? { sentinelPassword: '[redacted]' }
          : {}),
      },
    },
    auth: {
      ...config.auth,
      cursorSecret: '[redacted]',
      jwt: { ...config.auth.jwt, ...(config.auth.jwt.secret ? { secret: '[redacted]' } : {}) },
    },
  };
}

export { DEFAULT_CURSOR_SECRET } from './auth.js';
export { readToolEnvironment, type PostgresConnection, type ToolEnvironment } from './database.js';
export { parseHostPort, type RedisAddress, type RedisConnection } from './redis.js';
export { isTimeZone, maskPassword } from './variables.js';
