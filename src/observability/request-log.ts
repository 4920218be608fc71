import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { cacheHits, cacheMisses, graphqlErrors, httpRequestDuration, httpRequests } from './metrics.js';
import { requestContext, type RequestRecord } from './request-context.js';

// Operation names come from clients; as metric labels they must stay few and well formed.
const OPERATION_NAME = /^[_A-Za-z][_0-9A-Za-z]{0,63}$/;
const MAX_OPERATION_LABELS = 200;
const FIRST_OPERATION = /^\s*(?:#[^\n]*\n\s*)*(?:query|mutation|subscription)\s+([_A-Za-z][_0-9A-Za-z]*)/;

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
 * error, in its log line, and in the application_name of the PostgreSQL sessions it uses. The request's
 * record is put in `requestContext` in onRequest and again in preValidation: body parsing runs on socket
 * events, outside the async context the first hook entered.
 */
export function registerRequestObservation(app: FastifyInstance, graphqlPath: string): void {
  const records = new WeakMap<FastifyRequest, RequestRecord>();
  const operations = new Set<string>();

  const operationLabel = (request: FastifyRequest, record: RequestRecord): string => {
    if (record.operation === undefined) return request.routeOptions.url ?? 'not_found';
    if (operations.has(record.operation)) return record.operation;
    if (!OPERATION_NAME.test(record.operation) || operations.size >= MAX_OPERATION_LABELS) return 'other';
    operations.add(record.operation);
    return record.operation;
  };

  const answered = new WeakSet<FastifyRequest>();
  // One line per request: when its answer is sent (onResponse), or when its connection closes while the answer
  // is being sent (a client that went away mid-download, a stream cut after an error), marked `aborted`.
  const finish = (request: FastifyRequest, reply: FastifyReply, aborted: boolean) => {
    const record = records.get(request);
    if (!record || answered.has(request)) return;
    answered.add(request);
    const status = String(reply.statusCode);
    const operation = operationLabel(request, record);
    const seconds = reply.elapsedTime / 1000;
    httpRequests.inc({ operation, status });
    httpRequestDuration.observe({ operation, status }, seconds);
    for (const code of record.errorCodes) graphqlErrors.inc({ code });
    const cache = reply.getHeader('x-cache');
    if (cache === 'HIT') cacheHits.inc();
    else if (cache === 'MISS') cacheMisses.inc();
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
  };

  app.addHook('onRequest', (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => {
    const record: RequestRecord = { requestId: request.id, errorCodes: [] };
    records.set(request, record);
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
    const record = records.get(request);
    if (request.routeOptions.url === graphqlPath && record) record.operation = operationNameOf(request.body, request.query);
    if (record) requestContext.run(record, done);
    else done();
  });

  app.addHook('onSend', async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    const record = records.get(request);
    // Cheap test first: successful answers, the common case, are passed on untouched.
    if (!record || typeof payload !== 'string' || !/"errors?"/.test(payload)) return payload;
    if (!/json/.test(String(reply.getHeader('content-type') ?? ''))) return payload;
    const tagged = tagErrors(payload, record.requestId);
    if (!tagged) return payload;
    record.errorCodes = tagged.codes;
    return tagged.payload;
  });

  app.addHook('onResponse', async (request: FastifyRequest, reply: FastifyReply) => finish(request, reply, false));
}
