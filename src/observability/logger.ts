import { pino, type Logger } from 'pino';

/** Structured JSON logs; credentials in connection strings and auth headers are never written. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    redact: { paths: ['req.headers.authorization', 'req.headers["x-api-key"]', 'DATABASE_URL', '*.DATABASE_URL', 'DATABASE_DIRECT_URL', '*.DATABASE_DIRECT_URL'], censor: '[redacted]' },
  });
}
