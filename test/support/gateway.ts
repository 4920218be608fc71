import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import { pino, type Logger } from 'pino';
import type { DatabaseHandle } from '../../src/db/create-database.js';
import { createGateway, type Gateway, type GatewayOptions, type ServerConfig } from '../../src/http/server.js';

/** A GraphQL response body as it arrives over HTTP. */
export interface GraphQLResponse<T> {
  data?: T | null;
  extensions?: Record<string, unknown>;
  errors?: { message: string; extensions?: { code?: string; argumentName?: string } & Record<string, unknown>; path?: (string | number)[] }[];
}

export interface TestGateway extends Gateway {
  /** POST /graphql in process (no socket) and the decoded body. */
  request<T, V>(document: TypedDocumentNode<T, V> | string, variables?: V): Promise<{ status: number; body: GraphQLResponse<T> }>;
  /** POST /graphql in process with any JSON body; the whole answer, headers included. */
  post<T>(payload: object, headers?: Record<string, string>): Promise<{ status: number; headers: Record<string, unknown>; body: GraphQLResponse<T> }>;
  close(): Promise<void>;
}

export const testServerConfig: ServerConfig = {
  NODE_ENV: 'test',
  CURSOR_SECRET: 'test-cursor-secret-0123456789',
  HEALTH_TIMEOUT_MS: 1_000,
};

export async function startTestGateway(
  database: DatabaseHandle,
  config: Partial<ServerConfig> = {},
  options: GatewayOptions = {},
  logger: Logger = pino({ level: 'silent' }),
): Promise<TestGateway> {
  const gateway = await createGateway({ ...testServerConfig, ...config }, database, logger, options);
  await gateway.app.ready();
  return {
    ...gateway,
    async request(document, variables) {
      const query = typeof document === 'string' ? document : print(document);
      const response = await gateway.app.inject({
        method: 'POST',
        url: '/graphql',
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify({ query, variables }),
      });
      return { status: response.statusCode, body: response.json() };
    },
    async post(payload, headers = {}) {
      const response = await gateway.app.inject({
        method: 'POST',
        url: '/graphql',
        headers: { 'content-type': 'application/json', ...headers },
        payload: JSON.stringify(payload),
      });
      return { status: response.statusCode, headers: response.headers, body: response.json() };
    },
    close: () => gateway.app.close(),
  };
}
