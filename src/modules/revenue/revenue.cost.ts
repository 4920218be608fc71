import {
  Kind,
  getNamedType,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLField,
  type GraphQLNamedType,
  type SelectionSetNode,
} from 'graphql';
import type { ComplexityEstimator } from 'graphql-query-complexity';
import type { Kysely } from 'kysely';
import type { Database } from '../../db/database.js';
import { bucketCount, MAX_SERIES_POINTS } from './revenue.buckets.js';
import { ComparisonPeriod, comparisonRange, resolveDays, type DayBounds } from './revenue.periods.js';
import { readDataBounds, type BucketUnit, type DataBounds } from './revenue.repository.js';
import type { Logger } from '../../observability/logger.js';

// What a revenue series costs. `points` is the largest list of the schema (up to MAX_SERIES_POINTS buckets),
// and how long it is depends on the arguments of the field holding the series (`revenue(from, to,
// granularity)`), which graphql-query-complexity does not show the estimator of `points`. So `points` records
// what one bucket costs (the fields selected under it), and the field holding the series multiplies that by
// its bucket count. A series with an open end spans the data's first or last day: those are read from the
// database, once per data version, before pricing.

const SERIES_TYPE = 'RevenueSeries';
const POINTS_FIELD = 'points';
const COMPARISON_FIELD = 'comparison';

export type SeriesSpanLogger = Pick<Logger, 'warn'>;

/** How long the data's bounds are trusted without a change heard (the change feed may be down). */
const SPAN_MAX_AGE_MS = 10_000;

/**
 * The first and last day that has a transaction, for pricing series with an open end. Kept until the data
 * changes (`changed`, from the change feed) or for SPAN_MAX_AGE_MS; one read at a time, shared by every
 * request that needs it.
 */
export class SeriesSpan {
  private cached: { bounds: DataBounds; readAt: number; generation: number } | undefined;
  private generation = 0;
  private reading: Promise<DataBounds | undefined> | undefined;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly logger: SeriesSpanLogger,
  ) {}

  /** The data changed: the bounds are read again when next needed. */
  changed(): void {
    this.generation += 1;
  }

  /** The bounds, when they are known for the data as it is now. */
  known(): DataBounds | undefined {
    const cached = this.cached;
    if (!cached || cached.generation !== this.generation || performance.now() - cached.readAt > SPAN_MAX_AGE_MS)
      return undefined;
    return cached.bounds;
  }

  /**
   * The bounds for the data as it is now; if the database cannot tell, the last ones known (an estimate for a
   * query that will itself need the database), else undefined, and the series is priced at its largest.
   */
  async read(): Promise<DataBounds | undefined> {
    const known = this.known();
    if (known) return known;
    this.reading ??= (async () => {
      const generation = this.generation;
      try {
        const bounds = await readDataBounds(this.db);
        this.cached = { bounds, readAt: performance.now(), generation };
        return bounds;
      } catch (error) {
        this.logger.warn({ err: error }, 'could not read the data bounds that price open-ended revenue series');
        return this.cached?.bounds;
      } finally {
        this.reading = undefined;
      }
    })();
    return this.reading;
  }
}

/** The days of a series as its arguments give them: undefined when an open end awaits the data's bounds. */
interface PricedSeries {
  days: DayBounds | null | undefined;
  unit: BucketUnit;
  /** Both ends given: only then has the series a comparison. */
  given: boolean;
}

/**
 * The state of one pricing of a document, passed to the estimators as graphql-query-complexity's `context`:
 * what each selection of `points` costs per bucket, the period of each `comparison` selected, and the data
 * bounds (undefined when not read yet).
 */
export class SeriesPricing {
  /** A `points` selection, and what one of its buckets costs. */
  readonly bucketCosts = new Map<FieldNode, number>();
  /** A `comparison` selection of a series, and the period it compares with. */
  readonly comparisonPeriods = new Map<FieldNode, ComparisonPeriod>();
  /** Set when a series with an open end was priced without the data bounds: price again once they are read. */
  needsBounds = false;
  /** Set when a series with an open end was priced: the cost depends on the data bounds. */
  openEnded = false;
  private readonly fragments = new Map<string, FragmentDefinitionNode>();

  constructor(
    document: DocumentNode,
    private readonly bounds: DataBounds | undefined,
    /** Whether the bounds were asked for already (then undefined means the database could not tell). */
    private readonly boundsRead: boolean,
  ) {
    for (const definition of document.definitions) {
      if (definition.kind === Kind.FRAGMENT_DEFINITION) this.fragments.set(definition.name.value, definition);
    }
  }

  /** The days a series field's arguments give, open ends taken from the data bounds as its answer takes them. */
  seriesOf(args: Record<string, unknown>): PricedSeries {
    const unit = (typeof args.granularity === 'string' ? args.granularity : 'day') as BucketUnit;
    const range = {
      from: typeof args.from === 'string' ? args.from : undefined,
      to: typeof args.to === 'string' ? args.to : undefined,
    };
    const given = range.from !== undefined && range.to !== undefined;
    if (!given) this.openEnded = true;
    if (!given && !this.bounds) {
      if (!this.boundsRead) this.needsBounds = true;
      return { days: undefined, unit, given };
    }
    return { days: resolveDays(range, this.bounds), unit, given };
  }

  /** How many buckets a series has; one whose days are unknown is priced at its largest. */
  bucketsOf({ days, unit }: PricedSeries): number {
    if (days === undefined) return MAX_SERIES_POINTS;
    // No days at all (no data): the series is empty.
    if (days === null) return 0;
    return Math.min(bucketCount(days.from, days.to, unit), MAX_SERIES_POINTS);
  }

  /**
   * What the buckets of `series` past its first cost, selected with `selectionSet`: graphql-query-complexity
   * priced every `points` (and every comparison's) as one bucket, bottom-up, before the field holding the series
   * knew its arguments. Each `comparison` selected adds its own buckets past the first, counted on the range it
   * compares with (as long as the series give or take a few days: months and years differ in length), and so on
   * down through comparisons of comparisons, which the depth limit bounds.
   */
  extraBucketsCost(selectionSet: SelectionSetNode | undefined, series: PricedSeries): number {
    let cost = (Math.max(1, this.bucketsOf(series)) - 1) * this.bucketCostUnder(selectionSet);
    if (!series.given || !series.days) return cost;
    for (const comparison of this.fieldsUnder(selectionSet, COMPARISON_FIELD)) {
      const period = this.comparisonPeriods.get(comparison);
      const days = period && comparisonRange(series.days, period);
      // A comparison that cannot be made is refused when it runs, before reading anything.
      if (days) cost += this.extraBucketsCost(comparison.selectionSet, { days, unit: series.unit, given: true });
    }
    return cost;
  }

  /** What one bucket costs over every `points` selected directly in a series' selection set. */
  bucketCostUnder(selectionSet: SelectionSetNode | undefined): number {
    let cost = 0;
    for (const points of this.fieldsUnder(selectionSet, POINTS_FIELD)) cost += this.bucketCosts.get(points) ?? 0;
    return cost;
  }

  /**
   * The fields named `name` selected directly in a selection set, through its fragments. Validation has refused
   * fragment cycles and documents that expand past 10,000 selections before any pricing, so the walk ends; it
   * is a loop rather than recursion all the same.
   */
  private fieldsUnder(selectionSet: SelectionSetNode | undefined, name: string): FieldNode[] {
    const found: FieldNode[] = [];
    const pending: SelectionSetNode[] = selectionSet ? [selectionSet] : [];
    while (pending.length > 0) {
      for (const selection of pending.pop()!.selections) {
        if (selection.kind === Kind.FIELD) {
          if (selection.name.value === name) found.push(selection);
        } else if (selection.kind === Kind.INLINE_FRAGMENT) {
          pending.push(selection.selectionSet);
        } else {
          const fragment = this.fragments.get(selection.name.value);
          if (fragment) pending.push(fragment.selectionSet);
        }
      }
    }
    return found;
  }
}

/**
 * Whether seriesCostEstimator reads this argument: any argument of a field holding a series (its range and
 * granularity) or of a field of a series (a comparison's period). Costs are remembered by the values of such
 * arguments (src/limits/cost-memo.ts).
 */
export function isSeriesCostArgument(parent: GraphQLNamedType, field: GraphQLField<unknown, unknown>): boolean {
  return parent.name === SERIES_TYPE || getNamedType(field.type).name === SERIES_TYPE;
}

/**
 * Prices revenue series (and leaves every other field to the next estimator): `points` costs 1 plus, per
 * bucket, the fields selected under it; the field returning the series adds the other buckets, so a daily
 * series of a year with all five point fields costs about 366 × 5. A series' `comparison` is priced the same
 * way over the range it compares with: as one bucket here, its other buckets added by the field holding the
 * series it compares (which knows the range).
 */
export function seriesCostEstimator(): ComplexityEstimator {
  return ({ type, field, node, args, childComplexity, context }) => {
    if (!(context instanceof SeriesPricing)) return undefined;
    if (type.name === SERIES_TYPE && field.name === POINTS_FIELD) {
      // Priced as one bucket here; `points` does not see the arguments that say how many there are.
      context.bucketCosts.set(node, childComplexity);
      return 1 + childComplexity;
    }
    if (type.name === SERIES_TYPE && field.name === COMPARISON_FIELD) {
      // Its range follows from the series it compares, whose field adds the buckets past the first.
      const period =
        args.period === ComparisonPeriod.PREVIOUS_YEAR
          ? ComparisonPeriod.PREVIOUS_YEAR
          : ComparisonPeriod.PREVIOUS_PERIOD;
      context.comparisonPeriods.set(node, period);
      return 1 + childComplexity;
    }
    if (getNamedType(field.type).name === SERIES_TYPE) {
      return 1 + childComplexity + context.extraBucketsCost(node.selectionSet, context.seriesOf(args));
    }
    return undefined;
  };
}
