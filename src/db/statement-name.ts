import { createHash } from 'node:crypto';

/** `mp_<relation>_<hash>`: stable for a statement text, and readable as a metric label or in pg_prepared_statements. */
export function statementName(text: string): string {
  const relation = /\bfrom\s+"?([a-z_][a-z0-9_]*)"?/i.exec(text)?.[1] ?? 'query';
  // PostgreSQL truncates identifiers at 63 bytes; the hash keeps truncated names apart.
  return `mp_${relation.slice(0, 40)}_${createHash('sha1').update(text).digest('hex').slice(0, 12)}`;
}
