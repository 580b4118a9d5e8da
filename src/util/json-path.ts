/**
 * Field paths into a JSON record, as sources name them: `userId`, `context.timezone`,
 * `properties["$insert_id"]`, `device['time_zone_offset_seconds']`. A dot separates names; a
 * bracketed JSON string holds a name with any characters (dots, `$`, spaces).
 */

/** The names of a path, or an error message saying what is wrong with it. */
export function parsePath(text: string): string[] | { error: string } {
  const out: string[] = [];
  let i = 0;
  const bad = (why: string) => ({ error: `${JSON.stringify(text)} is not a field path: ${why} (write e.g. context.timezone or properties["$insert_id"])` });
  if (text.trim() === '') return bad('it is empty');
  while (i < text.length) {
    if (text[i] === '[') {
      const quote = text[i + 1];
      if (quote !== '"' && quote !== "'") return bad(`"[" at ${i + 1} must be followed by a quoted name`);
      let j = i + 2;
      while (j < text.length && text[j] !== quote) j += text[j] === '\\' ? 2 : 1;
      if (text[j + 1] !== ']') return bad(`the name quoted at ${i + 2} has no closing ${quote}]`);
      const inner = text.slice(i + 2, j);
      try {
        out.push(JSON.parse(`"${quote === "'" ? inner.replaceAll('"', '\\"').replaceAll("\\'", "'") : inner}"`) as string);
      } catch {
        return bad(`the name quoted at ${i + 2} has a bad escape`);
      }
      i = j + 2;
      if (i < text.length && text[i] !== '.' && text[i] !== '[') return bad(`expected "." or "[" at ${i + 1}`);
      if (text[i] === '.') i++;
      if (i === text.length && text.endsWith('.')) return bad('it ends with "."');
      continue;
    }
    let j = i;
    while (j < text.length && text[j] !== '.' && text[j] !== '[') j++;
    const name = text.slice(i, j).trim();
    if (name === '') return bad(`an empty name at ${i + 1}`);
    out.push(name);
    i = j;
    if (text[i] === '.') {
      i++;
      if (i === text.length) return bad('it ends with "."');
    }
  }
  return out;
}

/** A path as a user would write it again: dotted where it can be, bracketed where a name needs it. */
export function formatPath(names: readonly string[]): string {
  return names.map((n, i) => (/^[A-Za-z0-9_$@-]+$/.test(n) && !n.startsWith('$') ? (i ? `.${n}` : n) : `[${JSON.stringify(n)}]`)).join('');
}

/** The value at a path of a record, or undefined. Own properties only: a record's `__proto__` or `constructor` is data, never the prototype. */
export function valueAt(record: unknown, names: readonly string[]): unknown {
  let v = record;
  for (const n of names) {
    if (v === null || typeof v !== 'object' || Array.isArray(v) || !Object.hasOwn(v, n)) return undefined;
    v = (v as Record<string, unknown>)[n];
  }
  return v;
}
