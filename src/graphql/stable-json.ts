/**
 * JSON with object keys sorted, so that `{a, b}` and `{b, a}` name the same live query or cached answer.
 *
 * Written as a loop over an explicit stack rather than with `JSON.stringify` (whose recursion throws
 * RangeError at a few thousand levels): the values it serialises are variables a client sent, and no nesting
 * may make building a key throw. For JSON data the text is what `JSON.stringify` gives with sorted keys:
 * `toJSON` is honoured, and `undefined` and functions are left out of objects and written `null` in arrays.
 */
export function stableJson(value: unknown): string {
  const out: string[] = [];
  // A string is text to write; an object a value to write, or (with `leave`) the end of a container.
  const stack: (string | { value: unknown } | { leave: object })[] = [{ value: jsonValue(value, '') }];
  // The containers being written, as JSON.stringify keeps them: a cycle would otherwise never end.
  const open = new Set<object>();
  while (stack.length > 0) {
    const task = stack.pop()!;
    if (typeof task === 'string') {
      out.push(task);
      continue;
    }
    if ('leave' in task) {
      open.delete(task.leave);
      continue;
    }
    const current = task.value;
    if (current === null || typeof current !== 'object') {
      out.push(omitted(current) ? 'null' : JSON.stringify(current));
      continue;
    }
    if (open.has(current)) throw new TypeError('Converting circular structure to JSON');
    open.add(current);
    const parts: (string | { value: unknown })[] = [];
    if (Array.isArray(current)) {
      parts.push('[');
      current.forEach((item: unknown, index) => {
        if (index > 0) parts.push(',');
        parts.push({ value: jsonValue(item, String(index)) });
      });
      parts.push(']');
    } else {
      parts.push('{');
      let first = true;
      for (const key of Object.keys(current).sort(byCodeUnits)) {
        const inner = jsonValue((current as Record<string, unknown>)[key], key);
        if (omitted(inner)) continue;
        parts.push(`${first ? '' : ','}${JSON.stringify(key)}:`, { value: inner });
        first = false;
      }
      parts.push('}');
    }
    stack.push({ leave: current });
    for (let index = parts.length - 1; index >= 0; index--) stack.push(parts[index]!);
  }
  return out.join('');
}

const byCodeUnits = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** What JSON.stringify leaves out of an object (and writes as `null` in an array). */
function omitted(value: unknown): boolean {
  return value === undefined || typeof value === 'function' || typeof value === 'symbol';
}

function jsonValue(value: unknown, key: string): unknown {
  if (value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    return (value as { toJSON(key: string): unknown }).toJSON(key);
  }
  return value;
}
