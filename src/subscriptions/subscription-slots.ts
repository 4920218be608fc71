import { ErrorCode } from '../errors/error-codes.js';
import type { GraphQLError } from 'graphql';
import { refusal } from './subscription-checks.js';
import type { SubscriptionStats } from './subscription-stats.js';

export interface SlotCaps {
  perConnection: number;
  perPrincipal: number;
  perInstance: number;
}

/** What one socket holds: its subscriptions, set up or being set up. */
export interface SlotHolder {
  subscriptions: number;
}

/** The place of one subscription; releasing it twice releases it once. */
export interface Slot {
  release(): void;
}

/**
 * The places subscriptions take on one gateway, per socket, per principal and in all. A place is taken when
 * the subscribe message arrives, before anything is awaited, and held until the subscription ends or its
 * setup fails: so the caps also bound how many subscriptions a socket, or a principal, can have being set up
 * at once, and a socket sending subscribe messages faster than they are served is refused at once, at no cost.
 * `stats.activeSubscriptions` (the marketpulse_subscriptions_active gauge) counts the places taken.
 */
export class SubscriptionSlots {
  private readonly byPrincipal = new Map<string, number>();
  // Made once: a socket sending subscribes faster than they are served is refused thousands of times a second,
  // and a GraphQLError captures a stack trace when it is made.
  private readonly refusals: Record<keyof SlotCaps, GraphQLError>;

  constructor(
    private readonly caps: SlotCaps,
    private readonly stats: SubscriptionStats,
  ) {
    const full = (cap: 'connection' | 'principal' | 'instance', max: number, message: string) =>
      refusal(ErrorCode.TOO_MANY_SUBSCRIPTIONS, message, { max, cap });
    this.refusals = {
      perConnection: full(
        'connection',
        caps.perConnection,
        `A connection may hold, or be setting up, at most ${caps.perConnection} subscriptions`,
      ),
      perPrincipal: full(
        'principal',
        caps.perPrincipal,
        `A client may hold at most ${caps.perPrincipal} subscriptions on this server`,
      ),
      perInstance: full(
        'instance',
        caps.perInstance,
        'This server holds as many subscriptions as it can; try again later',
      ),
    };
  }

  /** How many places `principalKey` holds. */
  heldBy(principalKey: string): number {
    return this.byPrincipal.get(principalKey) ?? 0;
  }

  /** A place for a subscription on `holder`'s socket for `principalKey`, or TOO_MANY_SUBSCRIPTIONS saying which cap is full. */
  take(holder: SlotHolder, principalKey: string): Slot | GraphQLError {
    if (holder.subscriptions >= this.caps.perConnection) return this.refusals.perConnection;
    const held = this.heldBy(principalKey);
    if (held >= this.caps.perPrincipal) return this.refusals.perPrincipal;
    if (this.stats.activeSubscriptions >= this.caps.perInstance) return this.refusals.perInstance;
    holder.subscriptions += 1;
    this.byPrincipal.set(principalKey, held + 1);
    this.stats.activeSubscriptions += 1;
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        holder.subscriptions -= 1;
        const left = this.heldBy(principalKey) - 1;
        if (left > 0) this.byPrincipal.set(principalKey, left);
        else this.byPrincipal.delete(principalKey);
        this.stats.activeSubscriptions -= 1;
      },
    };
  }
}
