import type { Logger } from '../observability/logger.js';

export interface ShutdownSteps {
  /** Readiness turns 503; requests are still served. */
  beginShutdown(): void;
  /** Stops listening, refuses new requests and resolves once the in-flight ones have been answered. */
  closeServer(): Promise<void>;
  /** Closes what the server used: the change listener, the cache store, the database pool. */
  closeResources(): Promise<void>;
}

export interface ShutdownOptions {
  /** How long to keep serving with readiness at 503 before closing, so load balancers stop sending traffic. */
  delayMs: number;
  /** The longest the whole shutdown may take; past it the process exits 1. */
  graceMs: number;
  logger: Pick<Logger, 'info' | 'warn' | 'error'>;
  exit?: (code: number) => void;
}

/**
 * SIGTERM or SIGINT: readiness 503, wait `delayMs`, drain and close the HTTP server (in-flight requests
 * finish, new ones are refused), close the resources, exit 0. A shutdown that outlasts `graceMs` exits 1;
 * a second signal exits at once.
 */
export function installGracefulShutdown(steps: ShutdownSteps, options: ShutdownOptions): void {
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const { logger } = options;
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      exit(1);
      return;
    }
    stopping = true;
    const started = Date.now();
    logger.info({ signal, delayMs: options.delayMs, graceMs: options.graceMs }, 'shutting down');
    steps.beginShutdown();
    const deadline = setTimeout(() => {
      logger.error(
        { graceMs: options.graceMs },
        'shutdown did not finish within its grace period: exiting with requests in flight',
      );
      exit(1);
    }, options.graceMs);
    new Promise((resolve) => setTimeout(resolve, options.delayMs))
      .then(() => steps.closeServer())
      .then(() => steps.closeResources())
      .then(() => {
        clearTimeout(deadline);
        logger.info({ ms: Date.now() - started }, 'shut down cleanly');
        exit(0);
      })
      .catch((error: unknown) => {
        clearTimeout(deadline);
        logger.error({ err: error }, 'shutdown failed');
        exit(1);
      });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
