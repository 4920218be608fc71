import 'reflect-metadata';
import { ConfigError, loadConfig, redactConfig } from './config.js';
import { openConfiguredDatabase } from './db/open-database.js';
import { createGateway } from './http/server.js';
import { createLogger } from './logger.js';

// Start-up only: config -> logger -> database -> schema and HTTP server -> listen.

function readConfig() {
  try {
    return loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
}

const config = readConfig();
const logger = createLogger(config.LOG_LEVEL);
logger.info({ config: redactConfig(config) }, 'starting MarketPulse');

const database = await openConfiguredDatabase(config, logger);
const { app } = await createGateway(config, database, logger);
await app.listen({ host: config.HOST, port: config.PORT });
logger.info(`MarketPulse is serving http://${config.HOST}:${config.PORT}/graphql`);

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) process.exit(1);
    stopping = true;
    logger.info({ signal }, 'shutting down');
    app
      .close()
      .then(() => database.close())
      .then(() => process.exit(0))
      .catch((error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      });
  });
}
