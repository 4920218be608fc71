import type { Kysely } from 'kysely';
import { parseArgs } from 'node:util';
import type { Database } from '../db/database.js';
import { createApiKey, findApiKeys, revokeApiKey } from './api-key.repository.js';
import { ROLES, isRole } from './principal.js';

export const API_KEY_USAGE = `usage:
  npm run api-key -- create --name <name> --role <${ROLES.join('|')}>   prints the new key once
  npm run api-key -- list                                         names, roles, dates (never keys)
  npm run api-key -- revoke --name <name> | --id <id>`;

export interface CommandOutput {
  out(line: string): void;
  err(line: string): void;
}

/** `npm run api-key`: returns the exit code. Kept apart from the CLI file so tests run it in process. */
export async function runApiKeyCommand(db: Kysely<Database>, argv: string[], io: CommandOutput): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { name: { type: 'string' }, role: { type: 'string' }, id: { type: 'string' } },
    });
  } catch (error) {
    io.err(`${error instanceof Error ? error.message : String(error)}\n${API_KEY_USAGE}`);
    return 2;
  }
  const [command] = parsed.positionals;
  const { name, role, id } = parsed.values;
  switch (command) {
    case 'create': {
      if (!name || !isRole(role)) {
        io.err(`create needs --name and --role (one of ${ROLES.join(', ')})\n${API_KEY_USAGE}`);
        return 2;
      }
      const { key, record } = await createApiKey(db, name, role);
      io.out(`created API key ${record.id} "${record.name}" (${record.role}). It is shown this once; store it now:`);
      io.out(key);
      return 0;
    }
    case 'list': {
      const keys = await findApiKeys(db);
      if (keys.length === 0) io.out('no API keys');
      for (const k of keys)
        io.out(
          `${k.id}\t${k.name}\t${k.role}\tcreated ${k.createdAt}\t${k.revokedAt ? `revoked ${k.revokedAt}` : 'active'}`,
        );
      return 0;
    }
    case 'revoke': {
      if (id !== undefined && !/^\d+$/.test(id)) {
        io.err('--id must be a number');
        return 2;
      }
      const which = id !== undefined ? { id } : name ? { name } : undefined;
      if (!which) {
        io.err(`revoke needs --name or --id\n${API_KEY_USAGE}`);
        return 2;
      }
      const what = id !== undefined ? `with id ${id}` : `named "${name}"`;
      if ((await revokeApiKey(db, which)) === 0) {
        io.err(`no active API key ${what}`);
        return 1;
      }
      io.out(`revoked the API key ${what}`);
      return 0;
    }
    default:
      io.err(API_KEY_USAGE);
      return 2;
  }
}
