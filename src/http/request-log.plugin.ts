import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import fp from 'fastify-plugin';
import { cacheHits, cacheMisses, graphqlErrors, httpRequestDuration, httpRequests } from '../observability/metrics.js';
import { requestContext, type RequestRecord } from '../observability/request-context.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** What the request log and the metrics learn about this request while it is served, and whether its line is written. */
    observation: { record: RequestRecord; finished: boolean } | null;
  }
}

// Operation names come from clients; as metric labels they must stay few and well formed.
const OPERATION_NAME = /^[_A-Za-z][_0-9A-Za-z]{0,63}$/;
const MAX_OPERATION_LABELS = 200;
const FIRST_OPERATION = /^\s*(?:#[^\n]*\n\s*)*(?:query|mutation|subscription)\s+([_A-Za-z][_0-9A-Za-z]*)/;
// The request line is logged at info; below that level it is not even put together.
const LOGS_REQUESTS = new Set(['trace', 'debug', 'info']);

function operationNameOf(body: unknown, query: unknown): string {
  const source = (typeof body === 'object' && body !== null ? body : (query ?? {})) as Record<string, unknown>;
  if (typeof source.operationName === 'string' && source.operationName !== '') return source.operationName;
  if (typeof source.query === 'string') return FIRST_OPERATION.exec(source.query)?.[1] ?? 'anonymous';
  return 'anonymous';
}

/**
 * `extensions.code` of every error in a JSON response body, with the request id added to each error; or the
 * code of an export's error (`{"error":{"code":...}}`), whose body stays as it is (the id is in its header).
 */
function tagErrors(payload: string, requestId: string): { payload: string; codes: string[] } | undefined {
  let body: { errors?: { extensions?: Record<string, unknown> }[]; error?: { code?: unknown } };
  try {
    body = JSON.parse(payload) as typeof body;
  } catch {
    return undefined;
  }
  if (typeof body.error?.code === 'string') return { payload, codes: [body.error.code] };
  if (!Array.isArray(body.errors)) return undefined;
  const codes: string[] = [];
  for (const error of body.errors) {
    error.extensions = { ...error.extensions, requestId };
    codes.push(typeof error.extensions.code === 'string' ? error.extensions.code : 'UNKNOWN');
  }
  return { payload: JSON.stringify(body), codes };
}

/**
 * Request ids, one log line per request and the HTTP metrics. Every request carries an id (the caller's
 * `x-request-id`, or a new one) in its `x-request-id` response header, in `extensions.requestId` of every
 * error, in its log line, and with every statement it sends to PostgreSQL (src/db/statement-runner.ts). The
 * request's record is put in `requestContext` in onRequest and again in preValidation: body parsing runs on
 * socket events, outside the async context the first hook entered.
 */
function registerRequestObservation(app: FastifyInstance, graphqlPath: string): void {
  app.decorateRequest('observation', null);
  const operations = new Set<string>();

  const operationLabel = (request: FastifyRequest, record: RequestRecord): string => {
    if (record.operation === undefined) return request.routeOptions.url ?? 'not_found';
    if (operations.has(record.operation)) return record.operation;
    if (!OPERATION_NAME.test(record.operation) || operations.size >= MAX_OPERATION_LABELS) return 'other';
    operations.add(record.operation);
    return record.operation;
  };

  // One line per request: when its answer is sent (onResponse), or when its connection closes while the answer
  // is being sent (a client that went away mid-download, a stream cut after an error), marked `aborted`.
  const finish = (request: FastifyRequest, reply: FastifyReply, aborted: boolean) => {
    const observation = request.observation;
    if (!observation || observation.finished) return;
    observation.finished = true;
    const { record } = observation;
    const status = String(reply.statusCode);
    const operation = operationLabel(request, record);
    httpRequests.inc({ operation, status });
    httpRequestDuration.observe({ operation, status }, reply.elapsedTime / 1000);
    for (const code of record.errorCodes) graphqlErrors.inc({ code });
    const cache = reply.getHeader('x-cache');
    if (cache === 'HIT') cacheHits.inc();
    else if (cache === 'MISS') cacheMisses.inc();
    if (LOGS_REQUESTS.has(request.log.level)) logRequest(request, reply, record, cache, aborted);
  };

  // Callback hooks: none of them waits, and an async hook costs a promise and a microtask on every request.
  app.addHook('onRequest', (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => {
    const record: RequestRecord = { requestId: request.id, errorCodes: [] };
    request.observation = { record, finished: false };
    void reply.header('x-request-id', request.id);
    // An answer cut after its headers went out (a stream whose client went away, or that failed) never finishes.
    // Only such answers: a request whose client left before any answer is not one, and neither is a WebSocket
    // upgrade, whose socket (and response object) closes long after the upgrade, with no HTTP answer sent.
    reply.raw.once('close', () => {
      if (reply.raw.headersSent && !reply.raw.writableFinished) finish(request, reply, true);
    });
    requestContext.run(record, done);
  });

  app.addHook('preValidation', (request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction) => {
    const record = request.observation?.record;
    if (request.routeOptions.url === graphqlPath && record)
      record.operation = operationNameOf(request.body, request.query);
    if (record) requestContext.run(record, done);
    else done();
  });

  app.addHook(
    'onSend',
    (request: FastifyRequest, reply: FastifyReply, payload: unknown, done: (error: null, payload: unknown) => void) => {
      const record = request.observation?.record;
      // Cheap test first: successful answers, the common case, are passed on untouched.
      if (!record || typeof payload !== 'string' || !/"errors?"/.test(payload)) return done(null, payload);
      if (!/json/.test(String(reply.getHeader('content-type') ?? ''))) return done(null, payload);
      const tagged = tagErrors(payload, record.requestId);
      if (!tagged) return done(null, payload);
      record.errorCodes = tagged.codes;
      done(null, tagged.payload);
    },
  );

  app.addHook('onResponse', (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => {
    finish(request, reply, false);
    done();
  });
}

function logRequest(
  request: FastifyRequest,
  reply: FastifyReply,
  record: RequestRecord,
  cache: unknown,
  aborted: boolean,
): void {
  request.log.info(
    {
      method: request.method,
      url: request.routeOptions.url ?? request.url,
      operation: record.operation,
      status: reply.statusCode,
      durationMs: Math.round(reply.elapsedTime * 100) / 100,
      ...(cache === 'HIT' || cache === 'MISS' ? { cacheHit: cache === 'HIT' } : {}),
      ...(record.errorCodes.length > 0 ? { errorCodes: record.errorCodes } : {}),
      ...(record.exported ? { export: record.exported } : {}),
      ...(aborted ? { aborted: true } : {}),
    },
    'request',
  );
}

/** Request ids, the request log and the HTTP metrics for every route of the server (fastify-plugin: on the root). */
export const requestLogPlugin = fp<{ graphqlPath: string }>(
  (app, { graphqlPath }, done) => {
    registerRequestObservation(app, graphqlPath);
    done();
  },
  { name: 'marketpulse-request-log' },
);
