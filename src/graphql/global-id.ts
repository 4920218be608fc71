import { badInput } from './errors.js';

// Global ids are opaque to clients: base64url of "<Type>:<database id>". Clients must not build them.

export type NodeType = 'Customer' | 'Product';
const NODE_TYPES: readonly NodeType[] = ['Customer', 'Product'];

export function toGlobalId(type: NodeType, id: string): string {
  return Buffer.from(`${type}:${id}`, 'utf8').toString('base64url');
}

export interface GlobalId {
  type: NodeType;
  id: string;
}

/** Decodes a global id; a malformed one is BAD_USER_INPUT naming `argument`. */
export function fromGlobalId(value: string, argument = 'id', expected?: NodeType): GlobalId {
  const decoded = /^[A-Za-z0-9_-]{1,64}$/.test(value) ? Buffer.from(value, 'base64url').toString('utf8') : '';
  const match = /^([A-Za-z]+):([1-9]\d{0,17})$/.exec(decoded);
  const type = match?.[1] as NodeType | undefined;
  if (!match || !type || !NODE_TYPES.includes(type) || toGlobalId(type, match[2]!) !== value) {
    throw badInput(argument, 'is not a valid MarketPulse id');
  }
  if (expected && type !== expected) {
    throw badInput(argument, `is the id of a ${type}, not of a ${expected}`);
  }
  return { type, id: match[2]! };
}
