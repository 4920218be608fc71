import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { badInput } from './errors.js';
import type { KeysetPosition } from '../db/keyset.js';

// Longer than any cursor the gateway issues (a position holds at most a name of 2,000 characters), so a huge
// string is refused before it is split or hashed.
const MAX_CURSOR_LENGTH = 12_000;

/** BAD_USER_INPUT for a cursor this gateway did not issue (or not for this connection). */
export function invalidCursor(argument: string) {
  return badInput(argument, 'is not a valid cursor: use a cursor returned by this connection');
}

/**
 * Cursors are opaque: base64url JSON of the keyset position plus the ordering and filter it belongs to,
 * with an HMAC so that an edited or truncated cursor is refused instead of silently paging from elsewhere.
 */
export class CursorCodec {
  constructor(private readonly secret: string) {}

  private sign(body: string): string {
    return createHmac('sha256', this.secret).update(body).digest('base64url').slice(0, 22);
  }

  // The scope (ordering and filter, which may hold a long search text) travels as a short digest.
  private tag(scope: string): string {
    return createHash('sha256').update(scope).digest('base64url').slice(0, 12);
  }

  encode(scope: string, position: KeysetPosition): string {
    const body = Buffer.from(
      JSON.stringify({ s: this.tag(scope), v: position.value, i: position.id }),
      'utf8',
    ).toString('base64url');
    return `${body}.${this.sign(body)}`;
  }

  /** Decodes a cursor given as `argument`; it must have been issued for the same `scope` (ordering and filter). */
  decode(argument: string, cursor: string, scope: string): KeysetPosition {
    if (cursor.length > MAX_CURSOR_LENGTH) throw invalidCursor(argument);
    const [body, signature, extra] = cursor.split('.');
    const expected = body ? Buffer.from(this.sign(body)) : undefined;
    const given = Buffer.from(signature ?? '');
    if (
      !body ||
      !expected ||
      extra !== undefined ||
      given.length !== expected.length ||
      !timingSafeEqual(given, expected)
    ) {
      throw invalidCursor(argument);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
    } catch {
      throw invalidCursor(argument);
    }
    const { s, v, i } = (parsed ?? {}) as { s?: unknown; v?: unknown; i?: unknown };
    if (typeof i !== 'string' || !(typeof v === 'string' || v === null)) {
      throw invalidCursor(argument);
    }
    if (s !== this.tag(scope)) {
      throw badInput(
        argument,
        'belongs to another ordering or filter; request the first page again with the new arguments',
      );
    }
    return { value: v, id: i };
  }
}
