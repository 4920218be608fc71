import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import swc from 'unplugin-swc';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);
const swcOptions = JSON.parse(readFileSync(new URL('.swcrc', import.meta.url), 'utf8')) as Record<string, unknown>;

export default defineConfig({
  // type-graphql's legacy decorators (parameter decorators included) need swc; Vite's default transform
  // mis-compiles them. The options are .swcrc's, the ones `npm run build` compiles dist/ with, and only those:
  // nothing derived from tsconfig.json, no second lookup of .swcrc.
  plugins: [swc.vite({ tsconfigFile: false, ...swcOptions, swcrc: false })],
  resolve: {
    // Node loads graphql's CommonJS entry for type-graphql and Apollo; Vite would give our sources the .mjs
    // one, and two copies of graphql break `instanceof` checks between them. One copy for everybody.
    alias: [{ find: /^graphql$/, replacement: require.resolve('graphql') }],
  },
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    setupFiles: ['reflect-metadata'],
    // Test files share one PostgreSQL server (each file gets its own database); two workers fit two cores.
    maxWorkers: 2,
    coverage: { provider: 'v8', include: ['src/**'], reporter: ['text-summary', 'text'] },
    testTimeout: 30_000,
    hookTimeout: 120_000,
  },
});
