import { DateScalar } from '../graphql/scalars.js';
import { checkRange, checkText } from '../graphql/validate.js';
import { CustomerOrderField } from '../modules/customers/customer.args.js';
import type { CustomerSortField } from '../modules/customers/customer.repository.js';
import { ProductOrderField } from '../modules/products/product.args.js';
import type { ProductSortField } from '../modules/products/product.repository.js';
import { Granularity } from '../modules/revenue/revenue.type.js';
import { OrderDirection } from '../graphql/connection.type.js';
import { EXPORT_FORMATS, type ExportFormat } from './export.formats.js';
import { badParameter, fromArgumentError } from './export.errors.js';

// The query parameters of an export mirror the arguments of the GraphQL field it exports, with the GraphQL enum
// names (`orderBy=LIFETIME_VALUE:DESC`, `granularity=WEEK`) and the same checks (the same lengths, the same days,
// `from` after `to` refused). Anything else is refused too, a misspelt `serach` included: an export that
// silently ignored a filter would hand out more than was asked for.

export type ExportKind = 'customers' | 'products' | 'revenue';

export interface Sort<Field extends string> {
  field: Field;
  direction: 'asc' | 'desc';
}

export type ExportParameters =
  | { kind: 'customers'; format: ExportFormat; sort: Sort<CustomerSortField>; search: string | undefined }
  | { kind: 'products'; format: ExportFormat; sort: Sort<ProductSortField>; category: string | undefined }
  | {
      kind: 'revenue';
      format: ExportFormat;
      from: string | undefined;
      to: string | undefined;
      granularity: Granularity;
    };

const PARAMETERS: Record<ExportKind, readonly string[]> = {
  customers: ['format', 'orderBy', 'search'],
  products: ['format', 'orderBy', 'category'],
  revenue: ['format', 'from', 'to', 'granularity'],
};

// Longer than any value of an enum, a day or a format: a longer one is not repeated in full in the message.
const SHOWN_LENGTH = 40;

function shown(value: string): string {
  return value.length > SHOWN_LENGTH ? `a value of ${value.length} characters` : JSON.stringify(value);
}

function hasName<T extends object>(names: T, name: string): name is Extract<keyof T, string> {
  return Object.prototype.hasOwnProperty.call(names, name);
}

function single(query: Record<string, unknown>, parameter: string): string | undefined {
  const value = query[parameter];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw badParameter(parameter, 'must be given once');
  return value;
}

function formatOf(value: string | undefined): ExportFormat {
  if (value === undefined) return EXPORT_FORMATS.csv;
  if (!hasName(EXPORT_FORMATS, value)) throw badParameter('format', `must be csv or ndjson; got ${shown(value)}`);
  return EXPORT_FORMATS[value];
}

function sortOf<Field extends string>(
  value: string | undefined,
  fields: Record<string, Field>,
  fallback: Sort<Field>,
): Sort<Field> {
  if (value === undefined) return fallback;
  const [field = '', direction = '', extra] = value.split(':');
  if (extra === undefined && hasName(fields, field) && hasName(OrderDirection, direction)) {
    return { field: fields[field]!, direction: OrderDirection[direction] };
  }
  const names = Object.keys(fields).join(', ');
  throw badParameter(
    'orderBy',
    `must be FIELD:DIRECTION with FIELD one of ${names} and DIRECTION ASC or DESC (e.g. ${Object.keys(fields)[0]}:DESC); got ${shown(value)}`,
  );
}

function dayOf(parameter: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  try {
    return DateScalar.parseValue(value);
  } catch (error) {
    throw badParameter(parameter, `has an invalid value: ${error instanceof Error ? error.message : String(error)}`);
  }
}

function granularityOf(value: string | undefined): Granularity {
  if (value === undefined) return Granularity.DAY;
  if (!hasName(Granularity, value))
    throw badParameter('granularity', `must be DAY, WEEK or MONTH; got ${shown(value)}`);
  return Granularity[value];
}

/** The GraphQL argument checks, their errors naming the parameter. */
function checked<T>(check: () => T): T {
  try {
    return check();
  } catch (error) {
    throw fromArgumentError(error) ?? error;
  }
}

/** Reads and checks the query parameters of an export of `kind`; ExportError (400 BAD_USER_INPUT) naming the first bad one. */
export function exportParameters(kind: ExportKind, query: Record<string, unknown>): ExportParameters {
  const allowed = PARAMETERS[kind];
  for (const name of Object.keys(query)) {
    if (!allowed.includes(name))
      throw badParameter(name, `is not a parameter of this export; it takes ${allowed.join(', ')}`);
  }
  const format = formatOf(single(query, 'format'));
  switch (kind) {
    case 'customers': {
      const sort = sortOf(single(query, 'orderBy'), CustomerOrderField, {
        field: CustomerOrderField.LIFETIME_VALUE,
        direction: 'desc',
      });
      // As in GraphQL, an empty search filters nothing.
      const search = checked(() => checkText('search', single(query, 'search'))) || undefined;
      return { kind, format, sort, search };
    }
    case 'products': {
      const sort = sortOf(single(query, 'orderBy'), ProductOrderField, {
        field: ProductOrderField.REVENUE,
        direction: 'desc',
      });
      const category = checked(() => checkText('category', single(query, 'category')));
      return { kind, format, sort, category };
    }
    case 'revenue': {
      const from = dayOf('from', single(query, 'from'));
      const to = dayOf('to', single(query, 'to'));
      const range = checked(() => checkRange(from, to));
      return { kind, format, from: range.from, to: range.to, granularity: granularityOf(single(query, 'granularity')) };
    }
  }
}
