import { nonNegativeInt, positiveInt, type Parsed, type Variables } from './variables.js';

/** The audit trail of customer-level reads: how it is written and how long it is kept. */
export const auditVariables = {
  AUDIT_FLUSH_INTERVAL_MS: positiveInt.default(1_000),
  AUDIT_BATCH_SIZE: positiveInt.default(500),
  AUDIT_RETENTION_DAYS: nonNegativeInt.default(365),
} satisfies Variables;

export function auditConfig(env: Parsed<typeof auditVariables>) {
  return {
    /** Longest an entry waits in memory before it is written. */
    flushIntervalMs: env.AUDIT_FLUSH_INTERVAL_MS,
    /** Entries written per INSERT; a full batch is written at once rather than at the next interval. */
    batchSize: env.AUDIT_BATCH_SIZE,
    /** Entries older than this many days are deleted; 0 keeps them for ever. */
    retentionDays: env.AUDIT_RETENTION_DAYS,
  };
}

export type AuditConfig = ReturnType<typeof auditConfig>;
