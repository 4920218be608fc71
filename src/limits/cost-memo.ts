import {
  TypeInfo,
  visit,
  visitWithTypeInfo,
  type DocumentNode,
  type GraphQLField,
  type GraphQLNamedType,
  type GraphQLSchema,
} from 'graphql';
import type { DataBounds } from '../modules/revenue/revenue.service.js';
import { stableJson } from '../graphql/stable-json.js';

// Pricing a document walks all of it with graphql-query-complexity: 7 % of the CPU of answering
// `{ __typename }`, on every request. A client sends the same few documents over and over, with variables that
// mostly do not change the cost (a dashboard's `from` and `to`, a cursor), so the cost is remembered per parsed
// document (Apollo keeps one object per document text), operation name and values of the variables that can
// change it: the ones passed to an argument the estimators read, and to any directive (`@include(if: $x)`
// decides which fields count). A document with an open-ended revenue series was priced with the data's first
// and last day: its cost is reused only while those are the same.

/** Whether the estimators read this argument of this field (query-limits.ts decides, with revenue.cost.ts). */
export type CostArgumentTest = (
  parent: GraphQLNamedType,
  field: GraphQLField<unknown, unknown>,
  argument: string,
) => boolean;

/** A cost and, when it depends on them, the data bounds it was worked out with. */
interface Remembered {
  cost: number;
  /** Set when an open-ended series was priced; `undefined` bounds mean it was priced at its largest without any. */
  bounds?: { value: DataBounds | undefined };
}

interface DocumentCosts {
  /** The variables that can change the cost, sorted; undefined until the document is seen a second time. */
  variables?: string[];
  costs: Map<string, Remembered>;
}

/** Costs kept per document and operation: enough for a client's variants of a page size, no more. */
const MAX_COSTS_PER_DOCUMENT = 64;

const sameBounds = (a: DataBounds | undefined, b: DataBounds | undefined) =>
  a === b || (a !== undefined && b !== undefined && a.firstDay === b.firstDay && a.lastDay === b.lastDay);

/** The variables of `document` whose values can change its cost. */
export function costVariables(
  schema: GraphQLSchema,
  document: DocumentNode,
  isCostArgument: CostArgumentTest,
): string[] {
  const typeInfo = new TypeInfo(schema);
  const names = new Set<string>();
  visit(
    document,
    visitWithTypeInfo(typeInfo, {
      Argument(argument) {
        const field = typeInfo.getFieldDef();
        const parent = typeInfo.getParentType();
        const counts =
          typeInfo.getDirective() !== null || (field && parent && isCostArgument(parent, field, argument.name.value));
        if (counts) {
          visit(argument.value, {
            Variable(variable) {
              names.add(variable.name.value);
            },
          });
        }
        // Nothing below an argument is a field or another argument.
        return false;
      },
    }),
  );
  return [...names].sort();
}

/**
 * Costs worked out before, by document, operation and the values of the variables that can change them. A
 * document's variables are sorted out when it is seen a second time: one sent once (a query text generated per
 * request) costs nothing more than its pricing.
 */
export class CostMemo {
  private readonly documents = new WeakMap<DocumentNode, DocumentCosts>();

  constructor(
    private readonly schema: GraphQLSchema,
    private readonly isCostArgument: CostArgumentTest,
  ) {}

  /**
   * Where the cost of this pricing is kept, or undefined the first time the document is seen. `variables` are
   * the coerced values (defaults applied), so `first: 20` and a `$first` defaulting to 20 share one entry.
   */
  slot(
    document: DocumentNode,
    operationName: string | undefined,
    variables: Record<string, unknown>,
  ): CostSlot | undefined {
    const costs = this.documents.get(document);
    if (!costs) {
      this.documents.set(document, { costs: new Map() });
      return undefined;
    }
    costs.variables ??= costVariables(this.schema, document, this.isCostArgument);
    // A document's variables are the same every time, so its keys are all of one form.
    const key =
      costs.variables.length === 0
        ? (operationName ?? '')
        : stableJson([operationName ?? null, costs.variables.map((name) => variables[name] ?? null)]);
    return new CostSlot(costs.costs, key);
  }
}

export class CostSlot {
  constructor(
    private readonly costs: Map<string, Remembered>,
    private readonly key: string,
  ) {}

  /**
   * The cost kept here, if it holds for `bounds` (the data's bounds as known now; with `boundsKnowable`, a
   * cost that depends on them is reused only with the same bounds known, never when they are not known now).
   */
  cost(bounds: DataBounds | undefined, boundsKnowable: boolean): number | undefined {
    const remembered = this.costs.get(this.key);
    if (!remembered) return undefined;
    if (!remembered.bounds) return remembered.cost;
    if (boundsKnowable && bounds === undefined) return undefined;
    return sameBounds(remembered.bounds.value, bounds) ? remembered.cost : undefined;
  }

  /** Keeps `cost`; `bounds` when it was worked out with the data's bounds (an open-ended series). */
  keep(cost: number, bounds?: { value: DataBounds | undefined }): void {
    if (this.costs.size >= MAX_COSTS_PER_DOCUMENT && !this.costs.has(this.key)) this.costs.clear();
    this.costs.set(this.key, bounds ? { cost, bounds } : { cost });
  }
}
