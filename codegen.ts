import type { CodegenConfig } from '@graphql-codegen/cli';

// Typed documents for the operations the tests and the README use, generated from the committed SDL.
// `npm run codegen` writes them; `npm run codegen:check` fails when they are stale.
const config: CodegenConfig = {
  schema: 'schema/schema.graphql',
  documents: ['test/operations/**/*.graphql'],
  generates: {
    'test/generated/graphql.ts': {
      plugins: ['typescript-operations', 'typed-document-node'],
      config: {
        enumsAsTypes: true,
        useTypeImports: true,
        strictScalars: true,
        scalars: { Date: 'string', DateTime: 'string', Decimal: 'string' },
      },
    },
  },
};

export default config;
