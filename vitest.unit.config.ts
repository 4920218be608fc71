import { defineConfig } from 'vitest/config';
import config from './vitest.config.js';

// `npm run test:unit`: the *.unit.test.ts files only, which need no database, no Redis and no network, so the
// global set-up that finds (or starts) them is left out, and so are the long timeouts of the integration tests.
export default defineConfig({
  ...config,
  test: {
    ...config.test,
    include: ['test/**/*.unit.test.ts'],
    globalSetup: [],
    testTimeout: 5_000,
    hookTimeout: 5_000,
  },
});
