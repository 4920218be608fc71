import { InMemoryLRUCache } from '@apollo/utils.keyvaluecache';
import { TokenKind, type DocumentNode } from 'graphql';

// Apollo keeps every parsed and validated document for reuse, in an LRU it sizes by the document's JSON. That
// JSON leaves out what a parsed document actually holds on to: its whole source text (every node's location
// points at it) and the lexer's token list, comments included. A document padded with comments passes the token
// limit (comments are not tokens to the parser) and looked like a few hundred bytes to Apollo's LRU while it
// kept 90 KB of text, or megabytes of comment tokens, alive: 2,000 distinct padded documents grew the process by
// about 200 MB, and the LRU's own bound allowed several GB. This store counts what a document keeps.

// Retained bytes per token and per character, measured on V8 (Node 20) as the heap growth per parsed document
// kept, rounded up: a comment token is about 90 bytes, any other token with the AST node it becomes about 280,
// and the source is counted as two-byte text (a document with non-Latin-1 text is stored that way).
const BYTES_PER_COMMENT = 100;
const BYTES_PER_TOKEN = 300;
const BYTES_PER_CHARACTER = 2;

/** About how much memory a parsed document keeps alive: its source text, its tokens and its nodes. */
export function retainedBytes(document: DocumentNode): number {
  const loc = document.loc;
  if (!loc) return Buffer.byteLength(JSON.stringify(document));
  let comments = 0;
  let tokens = 0;
  for (let token = loc.startToken as typeof loc.startToken | null; token; token = token.next) {
    if (token.kind === TokenKind.COMMENT) comments++;
    else tokens++;
  }
  return BYTES_PER_CHARACTER * loc.source.body.length + BYTES_PER_COMMENT * comments + BYTES_PER_TOKEN * tokens;
}

/** How many of the store's bytes one document may take: a bigger one is parsed every time it is sent. */
const LARGEST_ENTRY_SHARE = 32;

/**
 * The parsed-document store for Apollo (its `documentStore` option): an LRU bounded by `maxBytes` of what the
 * documents really keep alive (retainedBytes), in which no document takes more than 1/32 of the bound, so a
 * few huge ones cannot push out everything clients reuse.
 */
export function createDocumentStore(maxBytes: number): InMemoryLRUCache<DocumentNode> {
  return new InMemoryLRUCache<DocumentNode>({
    maxSize: maxBytes,
    maxEntrySize: Math.floor(maxBytes / LARGEST_ENTRY_SHARE),
    sizeCalculation: retainedBytes,
  });
}
