import {
  Kind,
  visit,
  type ASTNode,
  type ASTVisitor,
  type DocumentNode,
  type FragmentDefinitionNode,
  type SelectionSetNode,
  type ValidationContext,
  type ValidationRule,
} from 'graphql';
import depthLimit from 'graphql-depth-limit';
import { ErrorCode } from '../errors/error-codes.js';
import { limitError, type QueryLimits } from './query-limits.js';

// The limits on a document's shape, as validation rules: they run in graphql-js's single validation pass,
// before anything executes, for queries over HTTP and subscriptions alike.

/** The most selections a document's fragments may expand to: past it, walking the document costs more than answering it. */
const MAX_FRAGMENT_EXPANSION = 10_000;

type FragmentShape = 'sound' | 'unknown-or-cyclic' | 'too-large';

/**
 * Checks what every walker of the document (graphql-depth-limit, graphql-query-complexity) takes for granted:
 * each spread names a fragment, no fragment spreads itself, and spreading fragments does not multiply the
 * document beyond MAX_FRAGMENT_EXPANSION selections (`...A ...A ...A` in each of 20 chained fragments is 3^20).
 * Counting is memoised per fragment, so the check itself is linear in the document.
 */
function fragmentShape(document: DocumentNode): FragmentShape {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  const expanded = new Map<string, number>();
  const visiting = new Set<string>();
  let unsound = false;
  const sizeOf = (selectionSet: SelectionSetNode | undefined): number => {
    let size = 0;
    for (const selection of selectionSet?.selections ?? []) {
      if (unsound) return 0;
      if (selection.kind === Kind.FRAGMENT_SPREAD) {
        const name = selection.name.value;
        const fragment = fragments.get(name);
        if (!fragment || visiting.has(name)) {
          unsound = true;
          return 0;
        }
        if (!expanded.has(name)) {
          visiting.add(name);
          expanded.set(name, sizeOf(fragment.selectionSet));
          visiting.delete(name);
        }
        size += expanded.get(name)!;
      } else {
        size += 1 + sizeOf(selection.selectionSet);
      }
      // Saturate rather than overflow: only "over the bound" matters.
      if (size > MAX_FRAGMENT_EXPANSION) size = MAX_FRAGMENT_EXPANSION + 1;
    }
    return size;
  };
  let total = 0;
  for (const definition of document.definitions) {
    if (definition.kind === Kind.OPERATION_DEFINITION) total += sizeOf(definition.selectionSet);
  }
  for (const [name, fragment] of fragments) {
    if (!expanded.has(name) && !unsound) {
      visiting.add(name);
      expanded.set(name, sizeOf(fragment.selectionSet));
      visiting.delete(name);
    }
  }
  if (unsound) return 'unknown-or-cyclic';
  return total > MAX_FRAGMENT_EXPANSION ? 'too-large' : 'sound';
}

/**
 * Depth with graphql-depth-limit: the root fields are depth 0, so `{ dashboard { totalRevenue } }` is 1 deep.
 * It recurses into fragments without guards, so a document with an unknown or cyclic fragment is left to the
 * standard rules (KnownFragmentNames, NoFragmentCycles), and one that expands past MAX_FRAGMENT_EXPANSION is
 * refused before it is walked.
 */
function maxDepthRule(maxDepth: number): ValidationRule {
  const depthRule = depthLimit(maxDepth) as (
    context: Pick<ValidationContext, 'getDocument' | 'reportError'>,
  ) => unknown;
  return (context: ValidationContext): ASTVisitor => {
    const document = context.getDocument();
    const shape = fragmentShape(document);
    if (shape === 'too-large') {
      context.reportError(
        limitError(
          ErrorCode.QUERY_TOO_COMPLEX,
          `Query's fragments expand to more than ${MAX_FRAGMENT_EXPANSION} selections`,
          {
            maxExpandedSelections: MAX_FRAGMENT_EXPANSION,
          },
        ),
      );
    } else if (shape === 'sound') {
      let reported = false;
      depthRule({
        getDocument: () => document,
        // graphql-depth-limit reports once per path over the limit; one error says it all.
        reportError: () => {
          if (reported) return;
          reported = true;
          context.reportError(
            limitError(ErrorCode.QUERY_TOO_DEEP, `Query is nested more than ${maxDepth} levels below its root fields`, {
              maxDepth,
            }),
          );
        },
      });
    }
    return {};
  };
}

/**
 * Counts nodes over the whole document when validation starts: graphql-js stops after 100 errors, and other
 * rules (a directive repeated on one field) would otherwise fill them before a count at the end is reported.
 */
function countingRule(counts: (node: ASTNode) => boolean, max: number, code: string, what: string): ValidationRule {
  return (context) => ({
    Document(document) {
      let seen = 0;
      visit(document, {
        enter(node) {
          if (counts(node)) seen++;
        },
      });
      if (seen > max)
        context.reportError(limitError(code, `Query has ${seen} ${what}; at most ${max} are allowed`, { max }));
    },
  });
}

const maxAliasesRule = (max: number) =>
  countingRule(
    (node) => node.kind === Kind.FIELD && node.alias !== undefined,
    max,
    ErrorCode.TOO_MANY_ALIASES,
    'aliases',
  );

const maxDirectivesRule = (max: number) =>
  countingRule((node) => node.kind === Kind.DIRECTIVE, max, ErrorCode.TOO_MANY_DIRECTIVES, 'directives');

export function queryLimitRules(limits: QueryLimits): ValidationRule[] {
  return [maxDepthRule(limits.maxDepth), maxAliasesRule(limits.maxAliases), maxDirectivesRule(limits.maxDirectives)];
}
