import { Kind, getNamedType, type DocumentNode, type FieldNode, type FragmentDefinitionNode, type SelectionSetNode } from 'graphql';
import type { ComplexityEstimator } from 'graphql-query-complexity';
import type { Kysely } from 'kysely';
import type { Database } from '../../db/database.js';
import { bucketCount, MAX_SERIES_POINTS } from './revenue.buckets.js';
import { readDataBounds, type BucketUnit, type DataBounds } from './revenue.repository.js';

// What a revenue series costs. `points` is the largest list of the schema (up to MAX_SERIES_POINTS buckets),
// and how long it is depends on the arguments of the field holding the series (`revenue(from, to,
// granularity)`), which graphql-query-complexity does not show the estimator of `points`. So `points` records
// what one bucket costs (the fields selected under it), and the field holding the series multiplies that by
// its bucket count. A series with an open end spans the data's first or last day: those are read from the
// database, once per data version, before pricing.

const SERIES_TYPE = 'RevenueSeries';
const POINTS_FIELD = 'points';

export interface SeriesSpanLogger {
  warn(details: object, message: string): void;
}

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
    if (!cached || cached.generation !== this.generation || performance.now() - cached.readAt > SPAN_MAX_AGE_MS) return undefined;
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

/**
 * The state of one pricing of a document, passed to the estimators as graphql-query-complexity's `context`:
 * what each selection of `points` costs per bucket, and the data bounds (undefined when not read yet).
 */
export class SeriesPricing {
  /** A `points` selection, and what one of its buckets costs. */
  readonly bucketCosts = new Map<FieldNode, number>();
  /** Set when a series with an open end was priced without the data bounds: price again once they are read. */
  needsBounds = false;
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

  /** How many buckets a series field's arguments give; a range past MAX_SERIES_POINTS is refused when it runs. */
  bucketsOf(args: Record<string, unknown>): number {
    const unit = (typeof args.granularity === 'string' ? args.granularity : 'day') as BucketUnit;
    let from = typeof args.from === 'string' ? args.from : undefined;
    let to = typeof args.to === 'string' ? args.to : undefined;
    if (from === undefined || to === undefined) {
      if (!this.bounds) {
        if (!this.boundsRead) this.needsBounds = true;
        return MAX_SERIES_POINTS;
      }
      from ??= this.bounds.firstDay ?? undefined;
      to ??= this.bounds.lastDay ?? undefined;
      // No data at all: the series is empty.
      if (from === undefined || to === undefined) return 0;
    }
    if (from > to) return 0;
    return Math.min(bucketCount(from, to, unit), MAX_SERIES_POINTS);
  }

  /**
   * What one bucket costs over every `points` selected directly in a series' selection set, through its
   * fragments. Validation has refused fragment cycles and documents that expand past 10,000 selections
   * before any pricing, so the walk ends; it is a loop rather than recursion all the same.
   */
  bucketCostUnder(selectionSet: SelectionSetNode | undefined): number {
    let cost = 0;
    const pending: SelectionSetNode[] = selectionSet ? [selectionSet] : [];
    while (pending.length > 0) {
      for (const selection of pending.pop()!.selections) {
        if (selection.kind === Kind.FIELD) {
          if (selection.name.value === POINTS_FIELD) cost += this.bucketCosts.get(selection) ?? 0;
        } else if (selection.kind === Kind.INLINE_FRAGMENT) {
          pending.push(selection.selectionSet);
        } else {
          const fragment = this.fragments.get(selection.name.value);
          if (fragment) pending.push(fragment.selectionSet);
        }
      }
    }
    return cost;
  }
}

/**
 * Prices revenue series (and leaves every other field to the next estimator): `points` costs 1 plus, per
 * bucket, the fields selected under it; the field returning the series adds the other buckets, so a daily
 * series of a year with all five point fields costs about 366 × 5.
 */
export function seriesCostEstimator(): ComplexityEstimator {
  return ({ type, field, node, args, childComplexity, context }) => {
    if (!(context instanceof SeriesPricing)) return undefined;
    if (type.name === SERIES_TYPE && field.name === POINTS_FIELD) {
      // Priced as one bucket here; `points` does not see the arguments that say how many there are.
      context.bucketCosts.set(node, childComplexity);
      return 1 + childComplexity;
    }
    if (getNamedType(field.type).name === SERIES_TYPE) {
      const buckets = Math.max(1, context.bucketsOf(args));
      return 1 + childComplexity + (buckets - 1) * context.bucketCostUnder(node.selectionSet);
    }
    return undefined;
  };
}
