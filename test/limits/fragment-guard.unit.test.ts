import 'reflect-metadata';
import { parse, specifiedRules, validate, type GraphQLError } from 'graphql';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { queryLimitsFrom } from '../../src/limits/limits-config.js';
import type { QueryLimits } from '../../src/limits/query-limits.js';

/** The limits a gateway enforces by default (the configuration's defaults). */
const defaultQueryLimits = queryLimitsFrom(loadConfig({}).limits.query);
import { queryLimitRules } from '../../src/limits/document-rules.js';
import { buildGatewaySchema } from '../../src/app/schema.js';

// The document limits as graphql-js validation runs them, with the standard rules beside them as Apollo runs
// them: depth, aliases and directives, and the guard in front of the depth walk that refuses fragments that
// are unknown, cyclic or expand past 10,000 selections. The same limits over HTTP: test/limits/limits.test.ts.

const schema = await buildGatewaySchema();

function errorsOf(query: string, limits: QueryLimits = defaultQueryLimits): readonly GraphQLError[] {
  return validate(schema, parse(query), [...specifiedRules, ...queryLimitRules(limits)]);
}

const codes = (errors: readonly GraphQLError[]) => errors.map((error) => error.extensions.code ?? null);

/** Fragments F0..Fn on Dashboard, each spreading the one below it `fanOut` times: fanOut^n selections. */
function chain(levels: number, fanOut: number): string {
  const fragments = ['fragment F0 on Dashboard { totalRevenue }'];
  for (let level = 1; level <= levels; level++) {
    fragments.push(
      `fragment F${level} on Dashboard { ${Array.from({ length: fanOut }, () => `...F${level - 1}`).join(' ')} }`,
    );
  }
  return `{ dashboard { ...F${levels} } }\n${fragments.join('\n')}`;
}

describe('the fragment guard', () => {
  it('lets fragments through that expand to fewer than 10,000 selections', () => {
    // 3^8 = 6,561.
    expect(errorsOf(chain(8, 3))).toEqual([]);
  });

  it('refuses fragments that expand past 10,000 selections with QUERY_TOO_COMPLEX, before walking them', () => {
    // 3^9 = 19,683.
    const errors = errorsOf(chain(9, 3));
    expect(codes(errors)).toEqual(['QUERY_TOO_COMPLEX']);
    expect(errors[0]!.extensions).toMatchObject({ maxExpandedSelections: 10_000 });
  });

  it('counts each fragment once, so a document that would expand to 3^40 selections is refused at once', () => {
    const started = performance.now();
    expect(codes(errorsOf(chain(40, 3)))).toEqual(['QUERY_TOO_COMPLEX']);
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it('leaves a fragment that spreads itself to the standard rule, without overflowing the stack', () => {
    const errors = errorsOf(`{ dashboard { ...A } }
      fragment A on Dashboard { totalRevenue ...B }
      fragment B on Dashboard { totalTransactions ...A }`);
    expect(errors.map((error) => error.message)).toContain('Cannot spread fragment "A" within itself via "B".');
    expect(codes(errors)).not.toContain('QUERY_TOO_DEEP');
    expect(codes(errors)).not.toContain('QUERY_TOO_COMPLEX');
  });

  it('leaves a spread of an unknown fragment to the standard rule', () => {
    const errors = errorsOf('{ dashboard { ...Missing } }');
    expect(errors.map((error) => error.message)).toEqual(['Unknown fragment "Missing".']);
  });
});

describe('the depth limit', () => {
  const shallow = { ...defaultQueryLimits, maxDepth: 2 };

  it('counts levels below the root fields, through fragments too', () => {
    expect(errorsOf('{ dashboard { topProducts { revenue } } }', shallow)).toEqual([]);
    const deep = '{ dashboard { topProducts { product { name } } } }';
    const viaFragment = '{ dashboard { topProducts { ...Row } } } fragment Row on ProductRevenue { product { name } }';
    for (const query of [deep, viaFragment]) {
      const errors = errorsOf(query, shallow);
      expect(codes(errors)).toEqual(['QUERY_TOO_DEEP']);
      expect(errors[0]!.extensions).toMatchObject({ maxDepth: 2 });
    }
  });

  it('reports one error however many paths are too deep', () => {
    const query = '{ dashboard { topProducts { product { name sku } } a: topProducts { product { category } } } }';
    expect(codes(errorsOf(query, shallow))).toEqual(['QUERY_TOO_DEEP']);
  });
});

describe('the alias and directive limits', () => {
  const aliases = (count: number) =>
    `{ ${Array.from({ length: count }, (_, i) => `a${i}: dashboard { totalRevenue }`).join(' ')} }`;
  const directives = (count: number) => `{ dashboard { totalRevenue ${'@include(if: true) '.repeat(count)} } }`;

  it('allows 15 aliases and refuses 16 with TOO_MANY_ALIASES', () => {
    expect(errorsOf(aliases(15))).toEqual([]);
    const errors = errorsOf(aliases(16));
    expect(codes(errors)).toEqual(['TOO_MANY_ALIASES']);
    expect(errors[0]!.message).toBe('Query has 16 aliases; at most 15 are allowed');
  });

  it('counts directives over the whole document, before other rules fill the error list', () => {
    expect(codes(errorsOf(directives(50)))).not.toContain('TOO_MANY_DIRECTIVES');
    // @include is not repeatable: graphql-js reports each repetition, and the count must still come through.
    expect(codes(errorsOf(directives(51)))).toContain('TOO_MANY_DIRECTIVES');
  });
});
