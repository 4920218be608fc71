// RESULTS.md is written by `npm run bench`, and its "Live subscriptions" section by `npm run bench:subscriptions`;
// the section sits between these markers, so that each run replaces only what it measured.

export const SUBSCRIPTIONS_SECTION_START = '<!-- subscriptions:start -->';
export const SUBSCRIPTIONS_SECTION_END = '<!-- subscriptions:end -->';

function sectionOf(markdown: string): string | undefined {
  const start = markdown.indexOf(SUBSCRIPTIONS_SECTION_START);
  const end = markdown.indexOf(SUBSCRIPTIONS_SECTION_END);
  return start >= 0 && end > start ? markdown.slice(start, end + SUBSCRIPTIONS_SECTION_END.length) : undefined;
}

/** `markdown` with `section` in place of its subscriptions section, or appended. */
export function withSection(markdown: string, section: string): string {
  const old = sectionOf(markdown);
  if (old) return markdown.replace(old, section.trimEnd());
  return `${markdown.trimEnd()}\n\n${section.trimEnd()}\n`;
}

/** A freshly rendered RESULTS.md that keeps the subscriptions section of the previous one. */
export function keepSections(previous: string, rendered: string): string {
  const old = sectionOf(previous);
  return old ? withSection(rendered, old) : rendered;
}
