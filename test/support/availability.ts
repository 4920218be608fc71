import { describe } from 'vitest';
import { skipReason } from './child-processes.js';

/**
 * `describe` for tests that need a process harness: it runs them where the harness is available, and always
 * under CI=true (where an unavailable harness then fails them); elsewhere it skips them, its name saying why.
 */
export function describeWhereAvailable(unavailable: string | undefined): (name: string, body: () => void) => void {
  const reason = skipReason(unavailable);
  if (reason === undefined) return (name, body) => describe(name, body);
  return (name, body) => describe.skip(`${name} (skipped, unavailable: ${reason})`, body);
}
