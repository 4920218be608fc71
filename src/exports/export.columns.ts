import {
  GraphQLString,
  getNullableType,
  isLeafType,
  isObjectType,
  type GraphQLLeafType,
  type GraphQLSchema,
} from 'graphql';

// The columns of an export are read from the schema the gateway serves, so that they cannot drift from the
// GraphQL type: every field of the row type whose value is a scalar (or enum), in the order the type declares
// them; fields holding objects or lists (favoriteProduct, topCustomers) are left out. Values go through the
// field's own scalar, so a cell holds exactly what the API would answer (global ids, two-decimal money, ISO
// instants) and a value the scalar refuses fails as it would in GraphQL.

export type RowTypeName = 'Customer' | 'Product' | 'RevenuePoint';

export interface ExportColumn {
  name: string;
  type: GraphQLLeafType;
  /** Free text (a String field): the only cells a spreadsheet could take for a formula. */
  text: boolean;
}

/** A row as the API shows it: the serialized value of every column, null where the field is null. */
export type ExportValues = (string | number | boolean | null)[];

export function exportColumns(schema: GraphQLSchema, typeName: RowTypeName): ExportColumn[] {
  const type = schema.getType(typeName);
  if (!isObjectType(type)) throw new Error(`the schema has no object type ${typeName}`);
  return Object.values(type.getFields()).flatMap((field) => {
    const fieldType = getNullableType(field.type);
    return isLeafType(fieldType) ? [{ name: field.name, type: fieldType, text: fieldType === GraphQLString }] : [];
  });
}

/**
 * The columns' values of one object (a Customer, a Product or a RevenuePoint), serialized by their scalars. A
 * column the object has no property for is a field resolved some other way, which the export cannot show: an
 * error, never a silently empty column.
 */
export function exportValues(columns: readonly ExportColumn[], object: object): ExportValues {
  const record = object as Record<string, unknown>;
  return columns.map((column) => {
    const value = record[column.name];
    if (value === undefined) throw new Error(`the export has no value for the field ${column.name}`);
    if (value === null) return null;
    return column.type.serialize(value) as string | number | boolean;
  });
}
