import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { ApolloErrorCode, ErrorCode } from '../errors/error-codes.js';

// Limits on what one request may ask of the gateway. Depth, aliases and directives are validation rules (they
// run in graphql-js's single validation pass, before anything executes); tokens are a parser option, so a huge
// document is refused while it is being read; cost needs the variables, so it is checked once the operation is
// resolved; the document's size in bytes is checked before anything parses it (comments are not tokens, so the
// token limit does not bound it); body size and batching are HTTP rules applied before any hook of ours runs.

/** The limits on a document itself; a document over one is refused like an invalid one (refused-document-status.plugin.ts). */
export const DOCUMENT_LIMIT_CODES: readonly string[] = [
  ErrorCode.QUERY_TOO_DEEP,
  ErrorCode.QUERY_TOO_COMPLEX,
  ErrorCode.TOO_MANY_ALIASES,
  ErrorCode.TOO_MANY_TOKENS,
  ErrorCode.TOO_MANY_DIRECTIVES,
  ErrorCode.QUERY_TOO_LARGE,
];

export interface QueryLimits {
  maxDepth: number;
  maxCost: number;
  maxAliases: number;
  maxTokens: number;
  maxDirectives: number;
  /** The longest document, in UTF-8 bytes, comments and white space included. */
  maxDocumentBytes: number;
  maxBodyBytes: number;
  /** The page size a connection is costed at when the query gives neither `first` nor `last`. */
  defaultPageSize: number;
}

// Apollo turns every validation error into GRAPHQL_VALIDATION_FAILED; the limit's own code travels in this
// extension and is put back by limitErrorCodes below.
const LIMIT_EXTENSION = 'limitCode';

export function limitError(code: string, message: string, details: Record<string, unknown> = {}): GraphQLError {
  return new GraphQLError(message, {
    extensions: { [LIMIT_EXTENSION]: code, code, ...details, http: { status: 400 } },
  });
}

// graphql-js spells it "more that" (16.x) or "more than".
const TOKEN_ERROR = /^Syntax Error: Document contains more tha[nt] \d+ tokens/;

/**
 * Puts the limit codes back on errors Apollo classed as parse or validation failures. ("Did you mean ...?" is
 * taken out per caller, by who may introspect: src/graphql/introspection.ts.)
 */
export function limitErrorCodes() {
  return (formatted: GraphQLFormattedError): GraphQLFormattedError => {
    const extensions = formatted.extensions ?? {};
    if (typeof extensions[LIMIT_EXTENSION] === 'string') {
      const { [LIMIT_EXTENSION]: code, ...rest } = extensions;
      return { ...formatted, extensions: { ...rest, code } };
    }
    if (extensions.code === ApolloErrorCode.GRAPHQL_PARSE_FAILED && TOKEN_ERROR.test(formatted.message)) {
      return { ...formatted, extensions: { ...extensions, code: ErrorCode.TOO_MANY_TOKENS } };
    }
    return formatted;
  };
}

/** QUERY_TOO_LARGE for a document longer than the limit (for subscriptions too); measured without copying it. */
export function documentTooLarge(
  query: string,
  limits: Pick<QueryLimits, 'maxDocumentBytes'>,
): GraphQLError | undefined {
  // A UTF-16 unit is at most three bytes in UTF-8: a document of up to a third of the limit needs no count.
  if (query.length * 3 <= limits.maxDocumentBytes) return undefined;
  const bytes = Buffer.byteLength(query, 'utf8');
  if (bytes <= limits.maxDocumentBytes) return undefined;
  return limitError(
    ErrorCode.QUERY_TOO_LARGE,
    `Query document is ${bytes} bytes long; at most ${limits.maxDocumentBytes} are allowed`,
    {
      maxBytes: limits.maxDocumentBytes,
    },
  );
}
