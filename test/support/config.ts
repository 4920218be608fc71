import { ConfigError, loadConfig } from '../../src/config/config.js';

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
