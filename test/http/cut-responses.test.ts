import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertSale } from '../cache/cache-fixtures.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { connect, startLiveGateway, type LiveGateway } from '../subscriptions/subscription-fixtures.js';

// The request log writes a line for an answer whose connection closed after its headers went out (an export cut
// mid-download); a WebSocket upgrade, whose response object closes with the socket much later, is not one.

describe('request lines of answers that never finish', () => {
  let database: TestDatabase;
  let gateway: LiveGateway;
  const lines: Record<string, unknown>[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    await insertSale(database.handle, '10.00');
    const logger = pino(
      { level: 'info' },
      { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
    );
    gateway = await startLiveGateway(database.handle, {}, {}, undefined, { logger });
  });

  afterAll(async () => {
    await gateway?.close();
    await database?.drop();
  });

  it('writes no aborted request line when a subscription socket closes', async () => {
    const client = connect(gateway.url, undefined, { headers: { 'x-request-id': 'socket-log-1' } });
    const first = await new Promise<unknown>((resolve, reject) => {
      const dispose = client.subscribe(
        { query: 'subscription { dashboardUpdated { totalRevenue } }' },
        { next: (value) => (dispose(), resolve(value)), error: reject, complete: () => undefined },
      );
    });
    expect(first).toEqual({ data: { dashboardUpdated: { totalRevenue: '10.00' } } });
    await client.dispose();
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(lines.filter((line) => line.requestId === 'socket-log-1' && line.aborted === true)).toEqual([]);
  });
});
