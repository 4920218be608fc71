import { createHash, randomBytes } from 'node:crypto';
import { sql, type Kysely, type Selectable } from 'kysely';
import type { Database } from '../db/database.js';
import type { Role } from './principal.js';

// API keys are 32 random bytes, so a plain SHA-256 of the key is enough to store them: there is nothing to
// brute-force that a slow hash would protect. The key itself is shown once, when it is made.

const KEY_PREFIX = 'mpk_';
// The prefix and 32 bytes in base64url, as generateApiKey makes them.
const KEY_SHAPE = /^mpk_[A-Za-z0-9_-]{43}$/;

/** Whether `key` could be one of ours; anything else is refused without a query. */
export function isApiKeyShape(key: string): boolean {
  return KEY_SHAPE.test(key);
}

export interface ApiKeyRecord {
  id: string;
  name: string;
  role: Role;
  createdAt: string;
  revokedAt: string | null;
}

type ApiKeyRow = Pick<Selectable<Database['api_keys']>, 'id' | 'name' | 'role' | 'created_at' | 'revoked_at'>;

const API_KEY_COLUMNS = ['id', 'name', 'role', 'created_at', 'revoked_at'] as const;

const toRecord = (row: ApiKeyRow): ApiKeyRecord => ({
  id: String(row.id),
  name: row.name,
  role: row.role,
  createdAt: String(row.created_at),
  revokedAt: row.revoked_at === null ? null : String(row.revoked_at),
});

/** The SHA-256 of a key, as stored; also how the gateway remembers keys without holding them. */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

function generateApiKey(): string {
  return `${KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
}

/** Stores a new key under `name` and returns it with the key itself, which is not stored anywhere. */
export async function createApiKey(
  db: Kysely<Database>,
  name: string,
  role: Role,
): Promise<{ key: string; record: ApiKeyRecord }> {
  const key = generateApiKey();
  const row = await db
    .insertInto('api_keys')
    .values({ name, role, key_hash: hashApiKey(key) })
    .returning(API_KEY_COLUMNS)
    .executeTakeFirstOrThrow();
  return { key, record: toRecord(row) };
}

/** The live (not revoked) key with this value, if any. */
export async function findActiveApiKey(db: Kysely<Database>, key: string): Promise<ApiKeyRecord | undefined> {
  const row = await db
    .selectFrom('api_keys')
    .select(API_KEY_COLUMNS)
    .where('key_hash', '=', hashApiKey(key))
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return row ? toRecord(row) : undefined;
}

export async function findApiKeys(db: Kysely<Database>): Promise<ApiKeyRecord[]> {
  const rows = await db.selectFrom('api_keys').select(API_KEY_COLUMNS).orderBy('id').execute();
  return rows.map(toRecord);
}

/** Revokes the live key with this id or name; returns how many keys were revoked (0 or 1). */
export async function revokeApiKey(db: Kysely<Database>, which: { id: string } | { name: string }): Promise<number> {
  const result = await db
    .updateTable('api_keys')
    .set({ revoked_at: sql<Date>`now()` })
    .where('revoked_at', 'is', null)
    .$call((qb) => ('id' in which ? qb.where('id', '=', which.id) : qb.where('name', '=', which.name)))
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}
