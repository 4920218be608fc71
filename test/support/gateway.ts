import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import { pino, type Logger } from 'pino';
import type { DatabaseHandle } from '../../src/db/database-handle.js';
import { createGateway, type Gateway, type GatewayOptions } from '../../src/app/create-gateway.js';
import { TEST_SETTINGS, testConfig, type TestSettings } from './config.js';

/** A GraphQL response body as it arrives over HTTP. */
export interface GraphQLResponse<T> {
  data?: T | null;
  extensions?: Record<string, unknown>;
  errors?: {
    message: string;
    extensions?: { code?: string; argumentName?: string } & Record<string, unknown>;
    path?: (string | number)[];
  }[];
}

export interface TestGateway extends Gateway {
  /** POST /graphql in process (no socket) and the decoded body. */
  request<T, V>(
    document: TypedDocumentNode<T, V> | string,
    variables?: V,
  ): Promise<{ status: number; body: GraphQLResponse<T> }>;
  /** POST /graphql in process with any JSON body; the whole answer, headers included. */
  post<T>(
    payload: object,
    headers?: Record<string, string>,
  ): Promise<{ status: number; headers: Record<string, unknown>; body: GraphQLResponse<T> }>;
  close(): Promise<void>;
}

/** The settings every test gateway starts from (test/support/config.ts). */
export const testServerConfig = TEST_SETTINGS;

export interface TestGatewayOptions {
  /** Listen on an ephemeral port of 127.0.0.1 and send every request over a real socket with fetch. */
  overHttp?: boolean;
  /** Where the gateway logs; silent by default. */
  logger?: Logger;
}

export async function startTestGateway(
  database: DatabaseHandle,
  config: TestSettings = {},
  options: GatewayOptions = {},
  testOptions: TestGatewayOptions = {},
): Promise<TestGateway> {
  const gateway = await createGateway(
    testConfig(config),
    database,
    testOptions.logger ?? pino({ level: 'silent' }),
    options,
  );
  await gateway.app.ready();
  let send: (
    payload: string,
    headers: Record<string, string>,
  ) => Promise<{ status: number; headers: Record<string, unknown>; text: string }>;
  if (testOptions.overHttp) {
    const address = await gateway.app.listen({ host: '127.0.0.1', port: 0 });
    send = async (payload, headers) => {
      const response = await fetch(`${address}/graphql`, { method: 'POST', headers, body: payload });
      return { status: response.status, headers: Object.fromEntries(response.headers), text: await response.text() };
    };
  } else {
    send = async (payload, headers) => {
      const response = await gateway.app.inject({ method: 'POST', url: '/graphql', headers, payload });
      return { status: response.statusCode, headers: response.headers, text: response.body };
    };
  }
  return {
    ...gateway,
    async request(document, variables) {
      const query = typeof document === 'string' ? document : print(document);
      const response = await send(JSON.stringify({ query, variables }), { 'content-type': 'application/json' });
      return { status: response.status, body: JSON.parse(response.text) };
    },
    async post(payload, headers = {}) {
      const response = await send(JSON.stringify(payload), { 'content-type': 'application/json', ...headers });
      return { status: response.status, headers: response.headers, body: JSON.parse(response.text) };
    },
    close: () => gateway.app.close(),
  };
}
