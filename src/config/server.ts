import { z } from 'zod';
import { nonNegativeInt, optionalBoolean, port, positiveInt, type Parsed, type Variables } from './variables.js';

/** The HTTP server: where it listens, how it reads requests, who may call it from a browser, how it stops. */
export const serverVariables = {
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  HOST: z.string().min(1).default('localhost'),
  PORT: port.default(4000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  HEALTH_TIMEOUT_MS: positiveInt.default(2_000),
  // On SIGTERM/SIGINT: keep serving this long with /readyz at 503 so load balancers notice, then drain.
  SHUTDOWN_DELAY_MS: nonNegativeInt.default(0),
  // The longest a shutdown may take; past it the process exits 1 with whatever is still in flight.
  SHUTDOWN_GRACE_MS: positiveInt.default(10_000),
  // The longest a client may take to send a request's headers and body; answers and WebSockets are not timed.
  REQUEST_READ_TIMEOUT_MS: positiveInt.default(10_000),
  // Comma-separated origins (scheme://host[:port]) whose browser pages may call the gateway.
  CORS_ORIGINS: z
    .string()
    .optional()
    .transform((value) =>
      (value ?? '')
        .split(',')
        .map((origin) => origin.trim())
        .filter(Boolean),
    )
    .pipe(
      z.array(
        z.url({ protocol: /^https?$/ }).refine((origin) => new URL(origin).origin === origin, {
          message: 'must be an origin: scheme://host[:port], no path or trailing slash',
        }),
      ),
    ),
  // Fastify's trustProxy: false, true (trust every proxy), or a comma-separated list of proxy addresses/CIDRs.
  TRUST_PROXY: z
    .string()
    .trim()
    .optional()
    .transform((value): boolean | string => {
      if (value === undefined || value === '' || value === 'false') return false;
      return value === 'true' ? true : value;
    }),
  // Unset: who may introspect follows NODE_ENV, AUTH_MODE and SANDBOX (src/graphql/introspection.ts); set, it
  // is the answer for every caller.
  INTROSPECTION: optionalBoolean,
  // Unset: Apollo Sandbox is served outside production only.
  SANDBOX: optionalBoolean,
} satisfies Variables;

export function serverConfig(env: Parsed<typeof serverVariables>) {
  return {
    nodeEnv: env.NODE_ENV,
    host: env.HOST,
    port: env.PORT,
    logLevel: env.LOG_LEVEL,
    /** How long the database gets to answer a probe (/healthz, /readyz). */
    healthTimeoutMs: env.HEALTH_TIMEOUT_MS,
    shutdown: { delayMs: env.SHUTDOWN_DELAY_MS, graceMs: env.SHUTDOWN_GRACE_MS },
    requestReadTimeoutMs: env.REQUEST_READ_TIMEOUT_MS,
    corsOrigins: env.CORS_ORIGINS,
    trustProxy: env.TRUST_PROXY,
    /** Who may introspect, for everybody; undefined: decided per caller (src/graphql/introspection.ts). */
    introspection: env.INTROSPECTION,
    /** Apollo Sandbox on GET /graphql; undefined: outside production. */
    sandbox: env.SANDBOX,
  };
}

export type ServerConfig = ReturnType<typeof serverConfig>;
