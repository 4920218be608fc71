import { uniformInt } from 'pure-rand/distribution/uniformInt';
import type { RandomGenerator } from 'pure-rand/types/RandomGenerator';
import {
  BRANCH_LABEL,
  CATALOGUE_BY_ROTATION,
  CITIES,
  COMPANY_FIELDS,
  COMPANY_PREFIXES,
  COMPANY_SUFFIXES,
  customerEmail,
  EMAIL_ROLES,
  LEGAL_FORMS,
  type CatalogueProduct,
} from './catalogue.js';
import { cumulativeOf, pickWeighted, shuffledIndices, unit } from './random-streams.js';
import { formatCents, MS_PER_DAY, SECONDS_PER_DAY } from './seed-format.js';

// ---------------------------------------------------------------------------------------------------------
// Products: a category-balanced slice of the catalogue. Popularity is Zipf-like over a seeded ranking,
// scaled by category demand and tilted towards cheap items, which are bought more often.

export interface ProductPlan {
  products: readonly CatalogueProduct[];
  cumulativePopularity: Float64Array;
  maxQuantity: Int32Array;
  /** Higher means small quantities dominate more strongly. */
  quantitySkew: Int32Array;
  /** amounts[product][quantity]: quantity × unit price, formatted once from integer agorot. */
  amounts: string[][];
}

export function planProducts(count: number, rng: RandomGenerator): ProductPlan {
  const products = CATALOGUE_BY_ROTATION.slice(0, count);
  const rank = shuffledIndices(count, rng);
  const popularity = products.map((product, i) => {
    const priceTilt = Math.pow(1_000_00 / product.unitPriceCents, 0.25);
    return Math.max(1, Math.round((1000 * product.demand * priceTilt) / Math.pow(rank[i]! + 1, 0.8)));
  });
  const maxQuantity = new Int32Array(count);
  const quantitySkew = new Int32Array(count);
  const amounts = products.map((product, i) => {
    // Offices restock cables and mice by the box, but buy laptops a few at a time.
    const cheap = product.unitPriceCents < 150_00;
    const expensive = product.unitPriceCents >= 2_000_00;
    maxQuantity[i] = cheap ? 50 : 20;
    quantitySkew[i] = expensive ? 4 : 3;
    const byQuantity = [''];
    for (let quantity = 1; quantity <= maxQuantity[i]; quantity++) {
      byQuantity.push(formatCents(quantity * product.unitPriceCents));
    }
    return byQuantity;
  });
  return { products, cumulativePopularity: cumulativeOf(popularity), maxQuantity, quantitySkew, amounts };
}

// ---------------------------------------------------------------------------------------------------------
// Customers: most signed up in the three years before the range, a quarter during it. Purchase frequency
// follows a capped Pareto weight (a few big accounts buy a lot); 5% have weight 0 and never buy.

export const HISTORY_DAYS = 3 * 365;
export const NEW_CUSTOMER_SHARE = 0.25;
export const NEVER_BUYING_SHARE = 0.05;
export const PARETO_ALPHA = 1.5;
export const MAX_ACCOUNT_SIZE = 100;
export const NO_EMAIL_SHARE = 0.02;
export const NO_CITY_SHARE = 0.01;

export interface CustomerPlan {
  count: number;
  /** Sign-up instants in epoch seconds, ascending: index i is customer id i + 1. */
  createdAt: Float64Array;
  cumulativeWeight: Float64Array;
  names: string[];
  emails: (string | null)[];
  cities: (string | null)[];
}

export function planCustomers(count: number, fromDay: number, days: number, rng: RandomGenerator): CustomerPlan {
  const fromSecond = fromDay * SECONDS_PER_DAY;
  // At least one customer predates the range, so the first day always has someone to sell to.
  const newcomers = Math.min(count - 1, Math.round(count * NEW_CUSTOMER_SHARE));
  const createdAt = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    createdAt[i] =
      i < count - newcomers
        ? fromSecond - 1 - uniformInt(rng, 0, HISTORY_DAYS * SECONDS_PER_DAY - 1)
        : fromSecond + uniformInt(rng, 0, days * SECONDS_PER_DAY - 1);
  }
  createdAt.sort();

  const weights = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const size = Math.min(MAX_ACCOUNT_SIZE, Math.pow(1 - unit(rng), -1 / PARETO_ALPHA));
    weights[i] = Math.round(100 * size);
  }
  // The oldest customer keeps a weight, so every day's draw has at least one buyer to choose from.
  const neverBuying = Math.round(count * NEVER_BUYING_SHARE);
  const candidates = shuffledIndices(count - 1, rng);
  for (let i = 0; i < neverBuying; i++) weights[candidates[i]! + 1] = 0;

  const baseNames = COMPANY_PREFIXES.length * COMPANY_SUFFIXES.length * COMPANY_FIELDS.length * LEGAL_FORMS.length;
  const nameOrder = shuffledIndices(baseNames, rng);
  const cityWeights = cumulativeOf(CITIES.map(([, weight]) => weight));
  const cityTotal = cityWeights[cityWeights.length - 1]!;
  const names: string[] = [];
  const emails: (string | null)[] = [];
  const cities: (string | null)[] = [];
  for (let i = 0; i < count; i++) {
    names.push(companyName(nameOrder[i % baseNames]!, Math.floor(i / baseNames)));
    const role = EMAIL_ROLES[uniformInt(rng, 0, EMAIL_ROLES.length - 1)]!;
    emails.push(unit(rng) < NO_EMAIL_SHARE ? null : customerEmail(role, i + 1));
    const city = CITIES[pickWeighted(cityWeights, cityWeights.length, uniformInt(rng, 0, cityTotal - 1))]![0];
    cities.push(unit(rng) < NO_CITY_SHARE ? null : city);
  }
  return { count, createdAt, cumulativeWeight: cumulativeOf(weights), names, emails, cities };
}

export function companyName(index: number, branch: number): string {
  let rest = index;
  const part = (list: readonly string[]) => {
    const value = list[rest % list.length]!;
    rest = Math.floor(rest / list.length);
    return value;
  };
  const prefix = part(COMPANY_PREFIXES);
  const suffix = part(COMPANY_SUFFIXES);
  const field = part(COMPANY_FIELDS);
  const legal = part(LEGAL_FORMS);
  const name = `${prefix}${suffix} ${field} ${legal}`;
  return branch === 0 ? name : `${name} - ${BRANCH_LABEL} ${branch + 1}`;
}

// ---------------------------------------------------------------------------------------------------------
// Calendar: how many transactions each day gets, and how likely one is still pending.

// Sunday to Saturday: the Israeli work week runs Sunday to Thursday; Friday is short, Saturday nearly idle.
export const WEEKDAY_FACTOR = [1.1, 1.1, 1.05, 1.05, 1.0, 0.35, 0.12];
// January to December: spring and autumn holidays and August are slow; year-end budgets are spent in Q4.
export const MONTH_FACTOR = [1.0, 0.95, 1.05, 0.9, 1.0, 1.05, 0.95, 0.85, 0.9, 0.9, 1.1, 1.2];
export const YEARLY_GROWTH = 0.25;
// UTC hours 0..23, shaped by Israeli office hours (UTC+2/+3): busy mornings, a lunch dip, quiet nights.
export const HOUR_WEIGHTS = [1, 1, 1, 1, 2, 4, 10, 16, 18, 17, 14, 15, 16, 15, 12, 8, 5, 3, 2, 2, 2, 2, 1, 1];

export const PENDING_SHARE = 0.1;
export const CANCELLED_SHARE = 0.05;
// Recent orders are often still awaiting payment or delivery; this is the daily decay of that extra chance.
export const PENDING_DECAY = 0.85;
export const MAX_RECENT_PENDING = 0.85;

export interface CalendarPlan {
  fromDay: number;
  counts: Int32Array;
  pendingChance: Float64Array;
}

export function planCalendar(transactions: number, fromDay: number, days: number, rng: RandomGenerator): CalendarPlan {
  const weights = new Float64Array(days);
  let totalWeight = 0;
  for (let d = 0; d < days; d++) {
    const date = new Date((fromDay + d) * MS_PER_DAY);
    const weight =
      WEEKDAY_FACTOR[date.getUTCDay()]! *
      MONTH_FACTOR[date.getUTCMonth()]! *
      (1 + (YEARLY_GROWTH * d) / 365) *
      (0.85 + 0.3 * unit(rng));
    weights[d] = weight;
    totalWeight += weight;
  }
  const counts = apportion(transactions, weights, totalWeight);

  // pending(age) = base + recent × decay^age, with base and recent chosen so the overall share stays at
  // PENDING_SHARE while the most recent days carry as much of it as the range length allows.
  const decay = new Float64Array(days);
  let weightedDecay = 0;
  for (let d = days - 1, factor = 1; d >= 0; d--, factor *= PENDING_DECAY) {
    decay[d] = factor;
    weightedDecay += counts[d]! * factor;
  }
  const meanDecay = weightedDecay / transactions;
  const recent = Math.min(MAX_RECENT_PENDING, PENDING_SHARE / 2 / meanDecay);
  const base = PENDING_SHARE - recent * meanDecay;
  const pendingChance = new Float64Array(days);
  for (let d = 0; d < days; d++) pendingChance[d] = base + recent * decay[d]!;
  return { fromDay, counts, pendingChance };
}

/** Splits `total` into integer parts proportional to `weights` that add up exactly (largest remainder). */
export function apportion(total: number, weights: Float64Array, weightSum: number): Int32Array {
  const counts = new Int32Array(weights.length);
  const remainders: Array<[index: number, remainder: number]> = [];
  let assigned = 0;
  for (let i = 0; i < weights.length; i++) {
    const quota = (total * weights[i]!) / weightSum;
    const whole = Math.floor(quota);
    counts[i] = whole;
    assigned += whole;
    remainders.push([i, quota - whole]);
  }
  remainders.sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  for (let i = 0; i < total - assigned; i++) {
    const index = remainders[i]![0];
    counts[index] = counts[index]! + 1;
  }
  return counts;
}
