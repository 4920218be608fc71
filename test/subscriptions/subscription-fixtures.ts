import { sql } from 'kysely';
import { createClient, type Client, type FormattedExecutionResult } from 'graphql-ws';
import type { GraphQLFormattedError } from 'graphql';
import WebSocket from 'ws';
import { ChangeListener } from '../../src/changes/change-listener.js';
import type { DatabaseHandle } from '../../src/db/database-handle.js';
import type { GatewayOptions } from '../../src/app/create-gateway.js';
import type { TestSettings } from '../support/config.js';
import type { SubscriptionServer } from '../../src/subscriptions/ws-server.js';
import { startTestGateway, type TestGateway, type TestGatewayOptions } from '../support/gateway.js';
import { silentLogger } from '../support/gateway-with-cache.js';

// Shared by the subscription tests: a gateway listening on an ephemeral port with its own change listener,
// real graphql-ws clients over `ws`, and rows written with plain SQL.

export interface LiveGateway extends TestGateway {
  url: string;
  changes: ChangeListener;
  subscriptions: SubscriptionServer;
}

export async function startLiveGateway(
  database: DatabaseHandle,
  config: TestSettings = {},
  options: Omit<GatewayOptions, 'changes'> = {},
  /** The change listener to serve from; one of its own by default. */
  listener?: ChangeListener,
  testOptions: Pick<TestGatewayOptions, 'logger'> = {},
): Promise<LiveGateway> {
  const changes = listener ?? (await ChangeListener.start(database, silentLogger));
  await changes.whenListening();
  const gateway = await startTestGateway(database, config, { ...options, changes }, testOptions);
  await gateway.app.listen({ host: '127.0.0.1', port: 0 });
  const address = gateway.app.server.address();
  if (!address || typeof address === 'string') throw new Error('the gateway did not listen on a port');
  return {
    ...gateway,
    url: `ws://127.0.0.1:${address.port}/graphql`,
    changes,
    subscriptions: gateway.subscriptions!,
    close: async () => {
      await gateway.close();
      await changes.close();
    },
  };
}

export interface CloseInfo {
  code: number;
  reason: string;
}

export interface ConnectOptions {
  /** Headers of the upgrade request (x-request-id, X-Forwarded-For). */
  headers?: Record<string, string>;
  /** Ids for the client's subscriptions, instead of graphql-ws's random UUIDs. */
  generateID?: () => string;
}

function withHeaders(headers: Record<string, string>) {
  return class extends WebSocket {
    constructor(address: string, protocols?: string | string[]) {
      super(address, protocols, { headers });
    }
  };
}

/** A graphql-ws client that does not retry, and remembers how its socket closed. */
export function connect(
  url: string,
  connectionParams?: Record<string, unknown>,
  options: ConnectOptions = {},
): Client & { closes: CloseInfo[] } {
  const closes: CloseInfo[] = [];
  const client = createClient({
    url,
    webSocketImpl: options.headers ? withHeaders(options.headers) : WebSocket,
    ...(options.generateID ? { generateID: options.generateID } : {}),
    retryAttempts: 0,
    lazy: false,
    // Errors such as a refused connection are read from `closes` and from the subscriptions themselves.
    onNonLazyError: () => undefined,
    ...(connectionParams ? { connectionParams } : {}),
    on: {
      closed: (event) => {
        const { code, reason } = event as { code: number; reason: unknown };
        closes.push({ code, reason: String(reason) });
      },
    },
  });
  return Object.assign(client, { closes });
}

/** One subscription's messages as they arrive, with waits bounded in time. */
export class Received<T> {
  readonly results: FormattedExecutionResult<T, unknown>[] = [];
  errors: readonly GraphQLFormattedError[] | undefined;
  closeEvent: CloseInfo | undefined;
  completed = false;
  readonly receivedAt: number[] = [];
  private waiters: (() => void)[] = [];
  readonly dispose: () => void;

  constructor(client: Client, query: string, variables: Record<string, unknown> = {}) {
    this.dispose = client.subscribe<T>(
      { query, variables },
      {
        next: (result) => {
          this.results.push(result);
          this.receivedAt.push(performance.now());
          this.wake();
        },
        error: (error) => {
          if (Array.isArray(error)) this.errors = error as GraphQLFormattedError[];
          else if (error && typeof error === 'object' && 'code' in error) {
            const { code, reason } = error as { code: number; reason: unknown };
            this.closeEvent = { code, reason: String(reason) };
          } else this.errors = [{ message: String(error) }];
          this.wake();
        },
        complete: () => {
          this.completed = true;
          this.wake();
        },
      },
    );
  }

  get last(): T | undefined {
    return this.results.at(-1)?.data ?? undefined;
  }

  /** Waits until `count` results have arrived; throws after `withinMs`. */
  async waitForResults(count: number, withinMs = 10_000): Promise<FormattedExecutionResult<T, unknown>[]> {
    await this.until(() => this.results.length >= count, withinMs, `${count} results`);
    return this.results;
  }

  /** Waits until the subscription ended with errors, a close, or completion. */
  async ended(withinMs = 10_000): Promise<void> {
    await this.until(
      () => this.errors !== undefined || this.closeEvent !== undefined || this.completed,
      withinMs,
      'the end',
    );
  }

  async until(accept: () => boolean, withinMs: number, what: string): Promise<void> {
    const started = performance.now();
    while (!accept()) {
      const left = withinMs - (performance.now() - started);
      if (left <= 0) throw new Error(`no ${what} within ${withinMs} ms (have ${this.results.length} results)`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  private wake() {
    for (const waiter of this.waiters.splice(0)) waiter();
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `accept` every few milliseconds; throws after `withinMs`. */
export async function eventually(accept: () => boolean, withinMs: number, what: string): Promise<void> {
  const started = performance.now();
  while (!accept()) {
    if (performance.now() - started > withinMs) throw new Error(`${what}: not within ${withinMs} ms`);
    await sleep(10);
  }
}

/** A customer and a product to attach transactions to. */
export async function seedCatalogue(database: DatabaseHandle): Promise<void> {
  await sql`INSERT INTO customers (id, name, created_at) VALUES (1, 'לקוחה ראשונה', '2025-01-01T00:00:00Z'), (2, 'לקוח שני', '2025-01-01T00:00:00Z')`.execute(
    database.db,
  );
  await sql`INSERT INTO products (id, sku, name, category, unit_price) VALUES (1, 'LAP-001', 'מחשב נייד', 'מחשבים ניידים', 100.00)`.execute(
    database.db,
  );
}

let nextId = 1;

/** One transaction, in one statement of its own (so one announcement on the change feed). */
export async function insertTransaction(
  database: DatabaseHandle,
  {
    amount,
    date,
    status = 'completed',
    customerId = 1,
  }: { amount: string; date: string; status?: string; customerId?: number },
): Promise<void> {
  const id = nextId++;
  await sql`INSERT INTO transactions (id, customer_id, product_id, quantity, amount, status, transaction_date)
            VALUES (${id}, ${customerId}, 1, 1, ${amount}::numeric, ${status}, ${date}::timestamptz)`.execute(
    database.db,
  );
}

/** Ids for bulk inserts that do not collide with insertTransaction's. */
export function takeIds(count: number): number {
  const first = nextId;
  nextId += count;
  return first;
}

export interface Totals {
  totalRevenue: string;
  totalTransactions: number;
  completedTransactions: number;
}

/** The totals of `from`..`to` (UTC days), with plain SQL over the base table. */
export async function expectedTotals(database: DatabaseHandle, from: string, to: string): Promise<Totals> {
  const { rows } = await sql<Totals>`
    SELECT round(coalesce(sum(amount) FILTER (WHERE status = 'completed'), 0), 2)::text AS "totalRevenue",
           count(*)::int AS "totalTransactions",
           (count(*) FILTER (WHERE status = 'completed'))::int AS "completedTransactions"
    FROM transactions
    WHERE (transaction_date AT TIME ZONE 'UTC')::date BETWEEN ${from}::date AND ${to}::date`.execute(database.db);
  return rows[0]!;
}

export const DASHBOARD_TOTALS = `subscription Totals($from: Date, $to: Date) {
  dashboardUpdated(from: $from, to: $to) { totalRevenue totalTransactions completedTransactions }
}`;

export type TotalsMessage = { dashboardUpdated: Totals };

/** A graphql-transport-ws message as the server sends it. */
export interface ServerMessage {
  id?: string;
  type: string;
  payload?: unknown;
}

export interface RawSocketOptions {
  /** Headers of the upgrade request (Origin, X-Forwarded-*, credentials). */
  headers?: Record<string, string>;
  /** The payload of `connection_init`. */
  connectionParams?: Record<string, unknown>;
}

/**
 * A socket speaking graphql-transport-ws by hand, for what a graphql-ws client will not send: messages written as
 * text (variables nested deeper than JSON.stringify can write), or thousands of them in one go.
 */
export class RawSocket {
  readonly messages: ServerMessage[] = [];
  closed: CloseInfo | undefined;
  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => this.messages.push(JSON.parse(String(data)) as ServerMessage));
    socket.on('close', (code, reason) => (this.closed = { code, reason: String(reason) }));
  }

  /** Opens and initialises a socket; rejects with the HTTP status when the upgrade is refused. */
  static async open(url: string, options: RawSocketOptions = {}): Promise<RawSocket> {
    const socket = new WebSocket(url, 'graphql-transport-ws', { headers: options.headers ?? {} });
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('unexpected-response', (_request, response) => reject(new UpgradeRefused(response.statusCode ?? 0)));
      socket.once('error', reject);
    });
    const raw = new RawSocket(socket);
    socket.send(
      JSON.stringify({
        type: 'connection_init',
        ...(options.connectionParams ? { payload: options.connectionParams } : {}),
      }),
    );
    await raw.until(
      (messages) => messages.some((message) => message.type === 'connection_ack'),
      5_000,
      'connection_ack',
    );
    return raw;
  }

  send(text: string): void {
    this.socket.send(text);
  }

  /** The messages about subscription `id`. */
  about(id: string): ServerMessage[] {
    return this.messages.filter((message) => message.id === id);
  }

  async until(accept: (messages: ServerMessage[]) => boolean, withinMs: number, what: string): Promise<void> {
    await eventually(() => accept(this.messages) || this.closed !== undefined, withinMs, what);
    if (!accept(this.messages)) throw new Error(`${what}: the socket closed first (${JSON.stringify(this.closed)})`);
  }

  close(): void {
    this.socket.close(1000);
  }
}

/** The WebSocket upgrade was answered with an HTTP status instead of 101. */
export class UpgradeRefused extends Error {
  constructor(readonly status: number) {
    super(`the upgrade was refused with HTTP ${status}`);
  }
}
