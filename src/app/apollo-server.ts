import { ApolloServer } from '@apollo/server';
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginInlineTraceDisabled,
  ApolloServerPluginLandingPageDisabled,
} from '@apollo/server/plugin/disabled';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import { fastifyApolloDrainPlugin } from '@as-integrations/fastify';
import type { FastifyInstance } from 'fastify';
import type { GraphQLFormattedError, GraphQLSchema } from 'graphql';
import type { AuditWriter } from '../audit/audit-writer.js';
import { auditPlugin } from '../audit/audit.plugin.js';
import { createDocumentStore } from '../cache/document-store.js';
import { registrationPricePlugin } from '../cache/persisted-documents.js';
import type { ResponseCaching } from '../cache/response-cache.js';
import type { GraphQLContext } from '../graphql/context.js';
import { introspectionPlugin, servesSandbox, type IntrospectionRule } from '../graphql/introspection.js';
import { refusedDocumentStatusPlugin } from '../http/refused-document-status.plugin.js';
import { serviceUnavailableStatusPlugin } from '../http/unavailable-status.plugin.js';
import { queryLimitRules } from '../limits/document-rules.js';
import { costLimitPlugin } from '../limits/query-cost.js';
import type { QueryLimits } from '../limits/query-limits.js';
import type { SeriesSpan } from '../modules/revenue/revenue.cost.js';
import { noSubscriptionsOverHttpPlugin } from '../subscriptions/no-subscriptions-over-http.plugin.js';
import type { GatewayConfig } from './server-config.js';
import { RETRY_AFTER_SECONDS } from './server-config.js';

/**
 * Apollo Sandbox on GET /graphql for a browser (Accept: text/html): a static page, needing no credentials, that
 * loads the Sandbox from Apollo's CDN and sends its operations, with the headers the user sets in it, back to
 * the same URL. The page states its own Content-Security-Policy (a meta tag naming exactly Apollo's CDN hosts,
 * with a nonce for its inline script); the gateway sends no CSP of its own that would forbid them. In
 * production it sends Apollo no telemetry and does not poll the schema: it changes only with a deploy, and
 * every poll would be an introspection query on the analyst's rate budget and in the audit trail.
 */
function sandboxLandingPage(production: boolean) {
  return ApolloServerPluginLandingPageLocalDefault({
    footer: false,
    embed: production ? { runTelemetry: false, initialState: { pollForSchemaUpdates: false } } : true,
  });
}

export interface ApolloOptions {
  config: GatewayConfig;
  schema: GraphQLSchema;
  limits: QueryLimits;
  /** Limit codes put back (and suggestions hidden in production), then masking. */
  formatError: (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError;
  seriesSpan: SeriesSpan;
  caching: ResponseCaching | undefined;
  persistedQueryMaxBytes: number;
  audit: AuditWriter;
  /** Who may introspect (src/graphql/introspection.ts). */
  introspection: IntrospectionRule;
}

/** Apollo Server with the gateway's limits, error formatting, response cache, audit trail and status codes; started. */
export async function startApollo(app: FastifyInstance, options: ApolloOptions): Promise<ApolloServer<GraphQLContext>> {
  const { config, schema, limits, caching } = options;
  const production = config.server.nodeEnv === 'production';
  const apollo = new ApolloServer<GraphQLContext>({
    schema,
    formatError: options.formatError,
    validationRules: queryLimitRules(limits),
    parseOptions: { maxTokens: limits.maxTokens },
    documentStore: createDocumentStore(config.cache.documentCacheMegabytes * 2 ** 20),
    includeStacktraceInErrorResponses: false,
    // Shutdown is the gateway's own (graceful-shutdown.ts): readiness 503, a delay, then drain. Apollo's handler,
    // on by default outside NODE_ENV=test, would stop the server at once and signal the process again.
    stopOnTerminationSignals: false,
    // Apollo's own switch would decide for every caller at once; introspectionPlugin decides per caller.
    introspection: true,
    // Apollo's default, stated: a GET, or a POST a form could send, needs a header a form cannot set.
    csrfPrevention: true,
    ...(caching ? { persistedQueries: caching.persistedQueries } : {}),
    plugins: [
      fastifyApolloDrainPlugin(app),
      servesSandbox(config.server) ? sandboxLandingPage(production) : ApolloServerPluginLandingPageDisabled(),
      serviceUnavailableStatusPlugin(RETRY_AFTER_SECONDS),
      refusedDocumentStatusPlugin(),
      // A refused operation is never looked up in the response cache (Apollo asks it only after every plugin
      // accepted the operation); like any operation that arrived, it is still priced and charged.
      introspectionPlugin(options.introspection),
      costLimitPlugin(schema, limits, options.seriesSpan),
      ...(caching ? [registrationPricePlugin<GraphQLContext>(options.persistedQueryMaxBytes)] : []),
      auditPlugin(options.audit),
      noSubscriptionsOverHttpPlugin(),
      ...(caching?.plugins ?? []),
      // Apollo would otherwise install these itself, each with work on every request: cache control with a hook
      // around every resolver (the response cache sets its policy itself), and federated tracing, which a schema
      // that is not a subgraph never uses but still starts for each request.
      ApolloServerPluginCacheControlDisabled(),
      ApolloServerPluginInlineTraceDisabled(),
    ],
  });
  await apollo.start();
  return apollo;
}
