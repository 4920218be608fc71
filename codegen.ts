import type { CodegenConfig } from '@graphql-codegen/cli';

// Generated from the committed SDL; `npm run codegen` writes, `npm run codegen:check` fails when stale.
// - schema/operations: the operations clients use (the README's examples). They become the persisted-documents
//   manifest (sha256 -> query text) that the gateway preloads, plus typed documents for TypeScript clients.
// - test/generated: typed documents for every operation the tests send.
const config: CodegenConfig = {
  schema: 'schema/schema.graphql',
  generates: {
    'schema/persisted/': {
      documents: ['schema/operations/**/*.graphql'],
      preset: 'client',
      presetConfig: {
        fragmentMasking: false,
        persistedDocuments: { hashAlgorithm: 'sha256' },
      },
      config: {
        enumsAsTypes: true,
        useTypeImports: true,
        strictScalars: true,
        scalars: { Date: 'string', DateTime: 'string', Decimal: 'string' },
      },
    },
    'test/generated/graphql.ts': {
      documents: ['schema/operations/**/*.graphql', 'test/operations/**/*.graphql'],
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
