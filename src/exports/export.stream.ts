import { Readable } from 'node:stream';
import { exportValues, type ExportColumn } from './export.columns.js';
import type { ExportFormat } from './export.formats.js';

// An export as a byte stream that Fastify pipes to the response. Readable.from pulls the next chunk (a batch
// of rows, formatted) only when the stream's buffer has room, and the pipe stops reading while the socket does
// not drain: a client that reads slowly holds the export at its pace, with about one batch in memory, and no
// statement runs ahead of it. When the connection closes first, Fastify destroys the stream, which returns the
// generator below: no further batch is read (a statement already running finishes and its rows are dropped).

/** The batches of an export after its first: only stepping forward and stopping are needed. */
export type ExportBatches<Row> = Pick<AsyncGenerator<Row, void, undefined>, 'next' | 'return'>;

export interface ExportStreamOptions<Row extends object> {
  format: ExportFormat;
  columns: readonly ExportColumn[];
  /** The first batch, read before the answer started so that its failure could still be a status. */
  first: IteratorResult<Row[], void>;
  /** The batches after the first. */
  rest: ExportBatches<Row[]>;
  /** Aborted when the connection closes before the export is complete. */
  signal: AbortSignal;
  /** Called with each batch as it is handed to the response (the audit trail, the count of rows). */
  onBatch(rows: readonly Row[]): void;
  /** Called once the last row has been handed to the response. */
  onComplete(): void;
  /** A batch failed after rows were sent: the connection is cut so that the client sees the export is incomplete. */
  onFailure(error: unknown): void;
}

// Byte mode, so the buffer is counted in bytes: one formatted batch (tens to hundreds of KB) fills it.
const HIGH_WATER_MARK = 64 * 1024;

export function exportStream<Row extends object>(options: ExportStreamOptions<Row>): Readable {
  const { format, columns, rest, signal } = options;
  async function* chunks(): AsyncGenerator<string, void, undefined> {
    let start = format.start(columns);
    let next = options.first;
    try {
      while (!next.done) {
        const lines = [start];
        start = '';
        for (const row of next.value) lines.push(format.row(columns, exportValues(columns, row)));
        options.onBatch(next.value);
        yield lines.join('');
        if (signal.aborted) return;
        next = await rest.next();
        if (signal.aborted) return;
      }
      // An export without rows is its header alone.
      if (start !== '') yield start;
      options.onComplete();
    } catch (error) {
      options.onFailure(error);
      throw error;
    } finally {
      await rest.return(undefined);
    }
  }
  return Readable.from(chunks(), { objectMode: false, highWaterMark: HIGH_WATER_MARK });
}
