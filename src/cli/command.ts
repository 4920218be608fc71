import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { DatabaseHandle, DatabaseOptions } from '../db/database-handle.js';

// What the one-shot data commands (seed, ingest) share: where they write, how they open the database, how
// they print figures, and whether they were started as a script.

export interface CommandOutput {
  out(line: string): void;
  err(line: string): void;
}

export const consoleOutput: CommandOutput = { out: (line) => console.log(line), err: (line) => console.error(line) };

/** How a command opens its database; tests hand in their own. */
export type OpenDatabase = (url: string, options: DatabaseOptions) => DatabaseHandle;

/** A count as the commands print it: 1,000,000. */
export const count = (n: number) => n.toLocaleString('en-US');

/** Rows per second, printed as a count; a run too short to time counts as a millisecond. */
export const rowsPerSecond = (rows: number, seconds: number) => count(Math.round(rows / Math.max(seconds, 0.001)));

/**
 * Whether the module at `moduleUrl` is the script Node was started with (`tsx src/cli/seed.ts`), rather than
 * imported by a test that calls its exported command function.
 */
export function invokedDirectly(moduleUrl: string): boolean {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(moduleUrl);
  } catch {
    return false;
  }
}
