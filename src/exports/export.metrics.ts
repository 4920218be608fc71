import { Counter } from 'prom-client';
import { metricsRegistry } from '../observability/metrics.js';

export const exportedRows = new Counter({
  name: 'marketpulse_export_rows_total',
  help: 'Rows handed to export responses, by kind (customers, products, revenue) and format (csv, ndjson)',
  labelNames: ['kind', 'format'] as const,
  registers: [metricsRegistry],
});

export const exportsEnded = new Counter({
  name: 'marketpulse_exports_total',
  help: 'Exports that started streaming, by kind and how they ended: complete, aborted (the client went away) or failed (cut after an error)',
  labelNames: ['kind', 'outcome'] as const,
  registers: [metricsRegistry],
});
