import type { Kysely } from 'kysely';
import { Field, Int, ObjectType } from 'type-graphql';
import type { Database } from '../../db/database.js';
import { DecimalScalar } from '../../graphql/scalars.js';
import type { DayRange } from '../../graphql/validate.js';
import { readDashboardTotals, type DashboardTotalsRecord } from './dashboard.repository.js';

@ObjectType({ description: "A product's sales within the dashboard's range (completed transactions only)." })
export class ProductRevenue {
  /** Database id of the product; `product` itself is loaded in a batch with the rest of the request. */
  productId!: string;

  @Field(() => DecimalScalar, { description: 'Revenue of this product in the range.' })
  revenue!: string;

  @Field(() => Int, { description: 'Units sold in the range.' })
  unitsSold!: number;

  @Field(() => Int, { description: 'Completed transactions of this product in the range.' })
  transactionCount!: number;
}

/**
 * The parent value of a Dashboard: just its range. Each field runs only the query it needs when asked;
 * the totals, top products and trend queries start together, so they run concurrently.
 */
export class DashboardSource {
  constructor(readonly range: DayRange) {}

  private totalsQuery?: Promise<DashboardTotalsRecord>;

  totals(db: Kysely<Database>): Promise<DashboardTotalsRecord> {
    this.totalsQuery ??= readDashboardTotals(db, this.range);
    return this.totalsQuery;
  }
}

@ObjectType({ description: 'Key figures for a range of report days. Revenue counts completed transactions only.' })
export class Dashboard {}
