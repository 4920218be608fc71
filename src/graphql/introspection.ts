import type { ApolloServerPlugin } from '@apollo/server';
import {
  GraphQLError,
  Kind,
  type DocumentNode,
  type FragmentDefinitionNode,
  type GraphQLFormattedError,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';
import { hasRole, type Principal, type Role } from '../auth/principal.js';
import type { AuthConfig } from '../config/auth.js';
import type { ServerConfig } from '../config/server.js';
import type { GraphQLContext } from './context.js';
import { ErrorCode } from '../errors/error-codes.js';

// Who may read the schema: introspection (`__schema`, `__type`) and the "Did you mean ...?" hints of validation
// errors, which give the schema away field by field. Decided per request from the caller's role, after
// validation: Apollo keeps a validated document for reuse and skips validating it again, so a validation rule
// would let one caller's allowed document through for the next caller. `__typename` is not introspection of the
// schema (clients ask for it on every object) and stays allowed for everybody.

export interface IntrospectionConfig {
  server: Pick<ServerConfig, 'nodeEnv' | 'introspection' | 'sandbox'>;
  auth: Pick<AuthConfig, 'mode'>;
}

/** Who may introspect: everybody, nobody, or callers with a role or a higher one. */
export type IntrospectionRule = { who: 'everybody' } | { who: 'nobody' } | { who: 'role'; role: Role };

/** The role that may introspect a production gateway with AUTH_MODE=required: analysts build queries. */
export const INTROSPECTION_ROLE: Role = 'analyst';

/**
 * INTROSPECTION=true|false decides for everybody. Unset: everybody outside production; in production, with
 * AUTH_MODE=required, analysts and admins (SANDBOX or not: a viewer's Sandbox shows no schema); with
 * AUTH_MODE=none, everybody when SANDBOX=true and nobody otherwise.
 */
export function introspectionRule(config: IntrospectionConfig): IntrospectionRule {
  const { nodeEnv, introspection, sandbox } = config.server;
  if (introspection !== undefined) return { who: introspection ? 'everybody' : 'nobody' };
  if (nodeEnv !== 'production') return { who: 'everybody' };
  if (config.auth.mode === 'required') return { who: 'role', role: INTROSPECTION_ROLE };
  return { who: sandbox === true ? 'everybody' : 'nobody' };
}

/** Whether Apollo Sandbox is served on GET /graphql to a browser: SANDBOX when set, else outside production. */
export function servesSandbox(config: Pick<ServerConfig, 'nodeEnv' | 'sandbox'>): boolean {
  return config.sandbox ?? config.nodeEnv !== 'production';
}

export function mayIntrospect(rule: IntrospectionRule, principal: Principal): boolean {
  return rule.who === 'everybody' || (rule.who === 'role' && hasRole(principal, rule.role));
}

/** INTROSPECTION_DISABLED, saying what would allow it; refused like an invalid document (200 under application/json). */
export function introspectionRefused(rule: IntrospectionRule): GraphQLError {
  const message =
    rule.who === 'role'
      ? `Introspection (__schema, __type) needs the ${rule.role} role or higher`
      : 'Introspection (__schema, __type) is turned off on this gateway';
  return new GraphQLError(message, { extensions: { code: ErrorCode.INTROSPECTION_DISABLED, http: { status: 400 } } });
}

const INTROSPECTION_FIELDS: ReadonlySet<string> = new Set(['__schema', '__type']);

// Documents are kept by Apollo's document store and reused: each is walked once per operation it runs.
const walked = new WeakMap<DocumentNode, Map<string, boolean>>();

/** Whether `operation`, its fragments included, selects `__schema` or `__type`, under any alias. */
export function selectsIntrospection(document: DocumentNode, operation: OperationDefinitionNode): boolean {
  let byOperation = walked.get(document);
  const name = operation.name?.value ?? '';
  const known = byOperation?.get(name);
  if (known !== undefined) return known;
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  const visited = new Set<string>();
  const selects = (selectionSet: SelectionSetNode): boolean =>
    selectionSet.selections.some((selection) => {
      switch (selection.kind) {
        case Kind.FIELD:
          return (
            INTROSPECTION_FIELDS.has(selection.name.value) ||
            (selection.selectionSet !== undefined && selects(selection.selectionSet))
          );
        case Kind.INLINE_FRAGMENT:
          return selects(selection.selectionSet);
        case Kind.FRAGMENT_SPREAD: {
          const fragment = fragments.get(selection.name.value);
          if (!fragment || visited.has(fragment.name.value)) return false;
          visited.add(fragment.name.value);
          return selects(fragment.selectionSet);
        }
      }
    });
  const answer = selects(operation.selectionSet);
  if (!byOperation) walked.set(document, (byOperation = new Map<string, boolean>()));
  byOperation.set(name, answer);
  return answer;
}

// graphql-js ends a message with its hints: fields, types, arguments, enum values.
const SUGGESTION = / ?Did you mean .*\?$/;

/** The error without its "Did you mean ...?" hint. */
export function withoutSuggestion(error: GraphQLFormattedError): GraphQLFormattedError {
  return SUGGESTION.test(error.message) ? { ...error, message: error.message.replace(SUGGESTION, '') } : error;
}

/**
 * Refuses an operation that reads the schema with INTROSPECTION_DISABLED, for a caller who may not introspect,
 * and takes "Did you mean ...?" out of such a caller's errors. Registered before the plugins that price and
 * cache operations. An introspection answer is never stored in the response cache: it costs no database read,
 * and a cache shared by gateways of other settings, or of another schema, must never hand it out.
 */
export function introspectionPlugin(rule: IntrospectionRule): ApolloServerPlugin<GraphQLContext> {
  return {
    async requestDidStart({ contextValue }) {
      const allowed = mayIntrospect(rule, contextValue.principal);
      return {
        async didResolveOperation({ document, operation, contextValue: context }) {
          if (!operation || !selectsIntrospection(document, operation)) return;
          context.neverCache = true;
          if (!allowed) throw introspectionRefused(rule);
        },
        async willSendResponse({ response }) {
          if (allowed || response.body.kind !== 'single') return;
          const result = response.body.singleResult;
          if (result.errors?.some((error) => SUGGESTION.test(error.message)))
            result.errors = result.errors.map(withoutSuggestion);
        },
      };
    },
  };
}
