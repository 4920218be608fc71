import type { DayRange } from '../db/day-range.js';
import { badInput } from './errors.js';

// Argument checks shared by resolvers. Each failure is BAD_USER_INPUT naming the argument.

export function checkIntRange(argument: string, value: number, min: number, max: number): number {
  if (value < min || value > max) throw badInput(argument, `must be between ${min} and ${max}; got ${value}`);
  return value;
}

/** A free-text argument: no NUL characters (PostgreSQL text cannot hold them), bounded length. */
export function checkText(argument: string, value: string | null | undefined, maxLength = 200): string | undefined {
  if (value == null) return undefined;
  if (value.includes('\u0000')) throw badInput(argument, 'must not contain NUL characters');
  if (value.length > maxLength) throw badInput(argument, `must be at most ${maxLength} characters long`);
  return value;
}

/** Inclusive calendar-day range; `from` after `to` is refused. */
export function checkRange(from: string | null | undefined, to: string | null | undefined): DayRange {
  if (from != null && to != null && from > to) {
    throw badInput('from', `must not be after "to" (${from} > ${to})`);
  }
  return { from: from ?? undefined, to: to ?? undefined };
}
