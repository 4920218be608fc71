// How a statement can fail that the runner itself recognises: cancelled at the gateway's timeout, or with its
// session gone.

export const QUERY_CANCELED = '57014';

/**
 * A statement PostgreSQL cancelled because the gateway asked it to once it had run for the statement timeout:
 * through a pooler, where the timeout cannot be a setting of the session. Reads like PostgreSQL's own timeout.
 */
export class StatementTimeoutError extends Error {
  readonly code = QUERY_CANCELED;

  constructor(timeoutMs: number, options: { cause: unknown }) {
    super(`canceling statement due to statement timeout (${timeoutMs} ms, asked by the gateway)`, options);
    this.name = 'StatementTimeoutError';
  }
}

/** The statement failed because its session is gone: terminated, shut down, or the connection dropped. */
export function isSessionLost(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && /^(08|57P0[1-3])/.test(code)) return true;
  return (
    error instanceof Error &&
    /Connection terminated|connection is closed|not queryable|Query read timeout/i.test(error.message)
  );
}
