// The layers of src/, top to bottom; an import may point down or within its own room, never up, and never round
// in a circle. README (Architecture) draws the same picture. Run by `npm run lint` (and so `npm run check`).
//
//   app          src/main.ts, src/app/, src/cli/     composition: start-up, schema, request context, database, shutdown
//   transport    src/http/, src/exports/, src/subscriptions/
//   concerns     src/audit/, src/cache/, src/changes/, src/limits/, src/seed/, src/ingest/
//   modules      src/modules/<domain>/
//   graphql      src/graphql/                        what every module shares
//   auth         src/auth/                           who is asking: principals and roles, authentication, API keys
//   data         src/db/
//   kernel       src/errors/, src/observability/     the error codes; the logger, request ids, metrics
//   config       src/config/
const LAYERS = [
  { name: 'app', path: '^src/(main\\.ts$|app/|cli/)' },
  { name: 'transport', path: '^src/(http|exports|subscriptions)/' },
  { name: 'concerns', path: '^src/(audit|cache|changes|limits|seed|ingest)/' },
  { name: 'modules', path: '^src/modules/' },
  { name: 'graphql', path: '^src/graphql/' },
  { name: 'auth', path: '^src/auth/' },
  { name: 'data', path: '^src/db/' },
  { name: 'kernel', path: '^src/(errors|observability)/' },
  { name: 'config', path: '^src/config/' },
];

/** One rule per layer: nothing in it imports a layer above it. */
const layerRules = LAYERS.slice(1).map((layer, index) => ({
  name: `${layer.name}-not-up`,
  comment: `${layer.name} may import only its own layer and the ones below it, not ${LAYERS.slice(0, index + 1)
    .map((above) => above.name)
    .join(', ')}`,
  severity: 'error',
  from: { path: layer.path },
  to: { path: LAYERS.slice(0, index + 1).map((above) => above.path) },
}));

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'Modules that import each other cannot be understood, tested or moved one at a time.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'An import that does not resolve is a typo or a missing dependency.',
      severity: 'error',
      from: {},
      // A package of TypeScript types only has nothing to resolve at run time.
      to: { couldNotResolve: true, pathNot: '^@graphql-typed-document-node/core$' },
    },
    ...layerRules,
    {
      name: 'only-entry-points-import-app',
      comment: 'src/app/ composes everything; only src/main.ts and the commands in src/cli/ may import it.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/(main\\.ts$|app/|cli/)' },
      to: { path: '^src/app/' },
    },
    {
      name: 'modules-keep-to-their-repository',
      comment: "A module reads another module's data through that module's exported functions, never its repository.",
      severity: 'error',
      from: { path: '^src/modules/([^/]+)/' },
      to: { path: '^src/modules/[^/]+/[^/]+\\.repository\\.ts$', pathNot: '^src/modules/$1/' },
    },
    {
      name: 'repositories-know-no-graphql',
      comment: 'Repositories hold SQL and return rows; GraphQL types, errors and validation live above them.',
      severity: 'error',
      from: { path: '\\.repository\\.ts$' },
      to: { path: ['^src/graphql/', '^node_modules/(graphql|type-graphql|@apollo)/'] },
    },
    {
      name: 'data-layer-reads-no-configuration',
      comment: 'The database layer is handed its options; loading configuration is the composition root’s job.',
      severity: 'error',
      from: { path: '^src/db/' },
      to: { path: '^src/config/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'src-not-to-tests',
      comment: 'What ships never imports the tests, benchmarks or their support code.',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|bench)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|coverage|\\.data|bench/postgraphile)/' },
    // Type-only imports count: a type is knowledge of the room it comes from.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
