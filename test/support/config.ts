import { ConfigError, loadConfig, type Config, type ConfigVariable } from '../../src/config/config.js';

/** The problems loadConfig reports for `env`; none when it loads. */
export function configProblems(env: NodeJS.ProcessEnv): string[] {
  try {
    loadConfig(env);
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
}

/** Settings as the environment gives them, by variable name; numbers, flags and lists as themselves. */
export type TestSettings = Partial<Record<ConfigVariable, string | number | boolean | readonly string[] | undefined>>;

/**
 * What every test gateway runs with unless a test says otherwise: NODE_ENV=test, a cursor secret of its own, short
 * probes, and no rate budget (the tests of budgets set RATE_LIMIT_POINTS themselves).
 */
export const TEST_SETTINGS = {
  NODE_ENV: 'test',
  CURSOR_SECRET: 'test-cursor-secret-0123456789',
  HEALTH_TIMEOUT_MS: 1_000,
  RATE_LIMIT_POINTS: 0,
} as const satisfies TestSettings;

/** The environment `settings` stand for, as process.env would hold them. */
export function settingsEnv(settings: TestSettings): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(settings)) {
    if (value === undefined) continue;
    env[name] = Array.isArray(value) ? value.join(',') : String(value);
  }
  return env;
}

/** The configuration loadConfig makes of TEST_SETTINGS and `settings`: the same defaults as a real start. */
export function testConfig(settings: TestSettings = {}): Config {
  return loadConfig(settingsEnv({ ...TEST_SETTINGS, ...settings }));
}
