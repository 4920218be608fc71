import { AsyncResource } from 'node:async_hooks';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GraphQLError, type GraphQLSchema } from 'graphql';
import type { Kysely } from 'kysely';
import { hasRole, type Principal, type Role } from '../auth/principal.js';
import type { Database } from '../db/database.js';
import { ErrorCode } from '../errors/error-codes.js';
import { isDatabaseUnavailable, isQueryTimeout, isReportZoneError, sessionZoneUnavailable } from '../graphql/errors.js';
import type { AuditWriter } from '../audit/audit-writer.js';
import type { Customer } from '../modules/customers/customer.type.js';
import { currentRequest, type ExportRecord } from '../observability/request-context.js';
import { exportColumns, type ExportColumn, type RowTypeName } from './export.columns.js';
import { ExportError, EXPORT_PATH_PREFIX, fromArgumentError, sendExportError } from './export.errors.js';
import { contentDisposition, reportDay, type ExportFileName } from './export.filename.js';
import { exportedRows, exportsEnded } from './export.metrics.js';
import { exportParameters, type ExportKind, type ExportParameters } from './export.params.js';
import { customerSource, productSource, revenueSource, type ExportSource } from './export.sources.js';
import { exportStream, type ExportBatches } from './export.stream.js';

// GET /export/customers, /export/products and /export/revenue. In order, before the first row: the caller's
// role, the parameters, the row count (one statement) and its price on the caller's rate budget, the first
// batch. A refusal at any of these is a JSON error with its status. Then the rows stream, batch by batch, as
// the client reads them; every batch of customers is named in the audit trail. Authentication and the budget's
// arrival charge are the hooks' (src/http/auth.plugin.ts, src/http/rate-limit.plugin.ts), as for /graphql.
// Exports never pass through the response cache, and say so to every cache on the way (no-store).

/** Rows one rate-budget point pays for: an export costs ceil(rows / 100) points, on top of every request's 1. */
export const ROWS_PER_POINT = 100;

export function exportPrice(rows: number): number {
  return Math.ceil(rows / ROWS_PER_POINT);
}

// What a 503 tells clients to wait, as GraphQL answers do (unavailable-status.plugin.ts).
const RETRY_AFTER_SECONDS = 5;

export interface ExportRoutesOptions {
  /** The schema the gateway serves: the columns are its types' scalar fields. */
  schema: GraphQLSchema;
  /** Where exports read. */
  db: Kysely<Database>;
  /** The audit trail's writer, shared with GraphQL. */
  audit: Pick<AuditWriter, 'record'>;
  /** The caller, as the authentication hook found it. */
  principalOf(request: FastifyRequest): Principal;
  /** Charges the caller's rate budget; throws RATE_LIMITED past it. Absent without rate limiting. */
  chargeCost?(request: FastifyRequest, points: number): Promise<void>;
  /** The zone of the report day an export of customers or products is dated with. */
  reportTimezone: string;
  /** A statement found its session in another report zone than the rollups: the database's zone is read again. */
  onReportZoneError?(): void;
}

const KINDS: readonly ExportKind[] = ['customers', 'products', 'revenue'];

/** The lowest role each export needs: the role of the GraphQL field it mirrors. */
const REQUIRED_ROLES: Record<ExportKind, Role> = { customers: 'analyst', products: 'viewer', revenue: 'viewer' };

const ROW_TYPES: Record<ExportKind, RowTypeName> = {
  customers: 'Customer',
  products: 'Product',
  revenue: 'RevenuePoint',
};

/** What an export reads and how its file is named, once its parameters are known. */
interface PreparedExport {
  source: ExportSource<object>;
  fileName: ExportFileName;
  /** The customers a batch holds, for the audit trail; absent for exports without customer-level data. */
  customersOf?: (rows: readonly object[]) => string[];
}

async function prepare(parameters: ExportParameters, options: ExportRoutesOptions): Promise<PreparedExport> {
  const extension = parameters.format.name;
  switch (parameters.kind) {
    case 'customers': {
      const { sort, search } = parameters;
      return {
        source: customerSource(options.db, { search }, sort),
        fileName: {
          what: ['customers', sort.field.toLowerCase(), sort.direction],
          ...(search !== undefined ? { filter: { parameter: 'search', value: search } } : {}),
          days: reportDay(options.reportTimezone),
          extension,
        },
        customersOf: (rows) => (rows as readonly Customer[]).map((customer) => customer.dbId),
      };
    }
    case 'products': {
      const { sort, category } = parameters;
      return {
        source: productSource(options.db, { category }, sort),
        fileName: {
          what: ['products', sort.field.toLowerCase(), sort.direction],
          ...(category !== undefined ? { filter: { parameter: 'category', value: category } } : {}),
          days: reportDay(options.reportTimezone),
          extension,
        },
      };
    }
    case 'revenue': {
      const source = await revenueSource(options.db, parameters.from, parameters.to, parameters.granularity);
      return {
        source,
        fileName: {
          what: ['revenue', parameters.granularity],
          days: source.days ? `${source.days.from}_${source.days.to}` : 'no-data',
          extension,
        },
      };
    }
  }
}

/** A refusal thrown by a check shared with GraphQL (its codes; an argument named as the parameter), as the export answers it. */
function refusalOf(error: unknown): ExportError | undefined {
  if (error instanceof ExportError) return error;
  if (!(error instanceof GraphQLError)) return undefined;
  const code = error.extensions.code;
  if (code === ErrorCode.RATE_LIMITED) {
    const seconds = error.extensions.retryAfterSeconds;
    const retryAfter = String(typeof seconds === 'number' ? seconds : 1);
    return new ExportError(429, ErrorCode.RATE_LIMITED, error.message, { 'retry-after': retryAfter });
  }
  if (code === ErrorCode.UNAUTHENTICATED)
    return new ExportError(401, ErrorCode.UNAUTHENTICATED, error.message, { 'www-authenticate': 'Bearer' });
  if (code === ErrorCode.FORBIDDEN) return new ExportError(403, ErrorCode.FORBIDDEN, error.message);
  return fromArgumentError(error);
}

/**
 * Every step of `batches` runs in the async context of the request that started it, not in that of the socket
 * event asking for more: the statements each batch runs then carry the request id to PostgreSQL and to the logs,
 * as a GraphQL request's do.
 */
function inRequestContext<T>(batches: AsyncGenerator<T, void, undefined>): ExportBatches<T> {
  return {
    next: AsyncResource.bind(() => batches.next()),
    return: AsyncResource.bind(() => batches.return(undefined)),
  };
}

export async function exportRoutes(app: FastifyInstance, options: ExportRoutesOptions): Promise<void> {
  const columns = Object.fromEntries(
    KINDS.map((kind) => [kind, exportColumns(options.schema, ROW_TYPES[kind])]),
  ) as Record<ExportKind, ExportColumn[]>;

  // Errors before the first row: once rows flow, the stream itself ends the answer (export.stream.ts).
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const refusal = refusalOf(error);
    if (refusal) return sendExportError(reply.headers(refusal.headers), refusal.status, refusal.code, refusal.message);
    const retry = { 'retry-after': String(RETRY_AFTER_SECONDS) };
    // The timeout first: its SQLSTATE (57014) is also one of the "unavailable" ones.
    if (isQueryTimeout(error)) {
      const message = 'The export took too long to read and was cancelled; try again shortly or ask for less';
      return sendExportError(reply.headers(retry), 503, ErrorCode.QUERY_TIMEOUT, message);
    }
    if (isDatabaseUnavailable(error)) {
      return sendExportError(
        reply.headers(retry),
        503,
        ErrorCode.SERVICE_UNAVAILABLE,
        'The database is unavailable; try again shortly',
      );
    }
    if (isReportZoneError(error)) {
      options.onReportZoneError?.();
      return sendExportError(
        reply.headers(retry),
        503,
        ErrorCode.SERVICE_UNAVAILABLE,
        sessionZoneUnavailable().message,
      );
    }
    if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
      return sendExportError(reply, error.statusCode, ErrorCode.BAD_REQUEST, error.message);
    }
    request.log.error({ err: error }, 'unexpected error while exporting');
    return sendExportError(reply, 500, ErrorCode.INTERNAL_SERVER_ERROR, 'Internal server error');
  });

  for (const kind of KINDS) {
    // No HEAD twin: it would count, charge and audit an export whose rows nobody receives.
    app.get(`${EXPORT_PATH_PREFIX}${kind}`, { exposeHeadRoute: false }, async (request, reply) =>
      exportRows(kind, request, reply),
    );
  }

  async function exportRows(kind: ExportKind, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const principal = options.principalOf(request);
    const role = REQUIRED_ROLES[kind];
    if (!hasRole(principal, role))
      throw new ExportError(403, ErrorCode.FORBIDDEN, `Exporting ${kind} needs the ${role} role or higher`);
    const parameters = exportParameters(kind, request.query as Record<string, unknown>);
    const prepared = await prepare(parameters, options);
    const price = exportPrice(await prepared.source.count());
    await options.chargeCost?.(request, price);

    const closed = new AbortController();
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) closed.abort();
    });
    const batches = inRequestContext(prepared.source.batches(closed.signal));
    const first = await batches.next();

    const format = parameters.format;
    const progress: ExportRecord = { kind, format: format.name, rows: 0, complete: false };
    const record = currentRequest();
    if (record) record.exported = progress;
    // One outcome per export: a failure also closes the connection, and that close is not a second one.
    let outcome: 'complete' | 'aborted' | 'failed' | undefined;
    const ended = (how: 'complete' | 'aborted' | 'failed') => {
      if (outcome !== undefined) return;
      outcome = how;
      exportsEnded.inc({ kind, outcome });
    };
    closed.signal.addEventListener('abort', () => ended('aborted'), { once: true });
    const stream = exportStream({
      format,
      columns: columns[kind],
      first,
      rest: batches,
      signal: closed.signal,
      onBatch: (rows) => {
        progress.rows += rows.length;
        exportedRows.inc({ kind, format: format.name }, rows.length);
        if (prepared.customersOf) {
          options.audit.record({
            occurredAt: new Date(),
            requestId: request.id,
            principal: principal.id,
            role: principal.role,
            clientIp: request.ip ?? null,
            operationName: `export:${kind}`,
            customerIds: prepared.customersOf(rows),
          });
        }
      },
      onComplete: () => {
        progress.complete = true;
        ended('complete');
      },
      onFailure: (error) => {
        ended('failed');
        request.log.error(
          { err: error, kind, rows: progress.rows },
          'export failed while streaming its rows; the connection is cut',
        );
      },
    });
    return reply
      .code(200)
      .type(format.contentType)
      .header('content-disposition', contentDisposition(prepared.fileName))
      .header('cache-control', 'no-store')
      .header('x-content-type-options', 'nosniff')
      .header('x-query-cost', String(price))
      .send(stream);
  }
}
