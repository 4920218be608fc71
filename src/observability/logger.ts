import { pino, type Logger as PinoLogger } from 'pino';

/**
 * The one logger type of the gateway: pino's levels, as Fastify hands them out (`app.log`, `request.log`, and
 * their children), structured details first and the message second, or a message alone. Code that logs takes
 * `Pick<Logger, ...>` of the levels it writes, so that a test can hand it a logger of just those. (Methods, not
 * function-typed properties: a test's logger may take just the arguments it looks at.)
 */
export interface Logger {
  fatal(details: object | string, message?: string): void;
  error(details: object | string, message?: string): void;
  warn(details: object | string, message?: string): void;
  info(details: object | string, message?: string): void;
  debug(details: object | string, message?: string): void;
  trace(details: object | string, message?: string): void;
}

/** Structured JSON logs; credentials in connection strings and auth headers are never written. */
export function createLogger(level: string): PinoLogger {
  return pino({
    level,
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers["x-api-key"]',
        'DATABASE_URL',
        '*.DATABASE_URL',
        'DATABASE_DIRECT_URL',
        '*.DATABASE_DIRECT_URL',
        '*.database.postgres.url',
        '*.database.postgres.directUrl',
      ],
      censor: '[redacted]',
    },
  });
}
