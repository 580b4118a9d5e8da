/**
 * The store's SQL is written once, for SQLite, in the subset both engines share; this turns the few
 * spellings that differ into PostgreSQL's. What cannot be spelled alike (COPY ingest, the export's
 * population, `where` filters on JSON, the lock) is written per engine in the store instead.
 *
 * Parameters: `?` (positional) and `@name` (named) become `$1, $2, ...`; `names` says which named
 * value, or which positional one (a number), each `$n` takes.
 */
export interface Translated {
  text: string;
  params: (string | number)[];
}

/** Finds the index of the parenthesis that closes the one at `open`. */
function closing(sql: string, open: number): number {
  let depth = 0;
  for (let i = open; i < sql.length; i++) {
    const ch = sql[i];
    if (ch === "'") {
      i = sql.indexOf("'", i + 1);
      if (i < 0) break;
    } else if (ch === '(') depth++;
    else if (ch === ')' && --depth === 0) return i;
  }
  throw new Error(`unbalanced parentheses in SQL: ${sql}`);
}

/** Replaces each call `name(args)` with `wrap(args)`. */
function rewriteCall(sql: string, name: string, wrap: (args: string) => string): string {
  const re = new RegExp(`\\b${name}\\s*\\(`, 'gi');
  let out = '';
  let from = 0;
  for (let m = re.exec(sql); m; m = re.exec(sql)) {
    const open = m.index + m[0].length - 1;
    const close = closing(sql, open);
    out += sql.slice(from, m.index) + wrap(sql.slice(open + 1, close));
    from = close + 1;
    re.lastIndex = close + 1;
  }
  return out + sql.slice(from);
}

function rewrite(sql: string): string {
  let s = sql;
  let ignore = false;
  s = s.replace(/\bINSERT\s+OR\s+IGNORE\s+INTO\b/gi, () => {
    ignore = true;
    return 'INSERT INTO';
  });
  if (ignore) s = `${s.trimEnd()} ON CONFLICT DO NOTHING`;
  // Tables the store creates (TEMP ones) compare text by bytes, as SQLite and the schema do.
  if (/\bCREATE\s+TEMP/i.test(s)) s = s.replace(/\bTEXT\b/g, 'text COLLATE "C"');
  s = s.replace(/\bWITHOUT\s+ROWID\b/gi, '').replace(/\bNOT\s+INDEXED\b/gi, '').replace(/\btemp\./g, 'pg_temp.');
  s = rewriteCall(s, 'json_each', (a) => `json_array_elements_text(CAST(${a} AS json)) AS json_each(value)`);
  s = rewriteCall(s, 'json_group_array', (a) => `CAST(coalesce(json_agg(${a}), '[]') AS text)`);
  s = rewriteCall(s, 'json_object', (a) => `json_build_object(${a})`);
  s = rewriteCall(s, 'group_concat', (a) => `string_agg(CAST(${a} AS text), ',')`);
  return s;
}

/** SQLite's SQL as PostgreSQL's, with its parameters numbered. */
export function translate(sql: string): Translated {
  const s = rewrite(sql);
  const params: (string | number)[] = [];
  const named = new Map<string, number>();
  let positional = 0;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (ch === "'" || ch === '"') {
      const end = s.indexOf(ch, i + 1);
      const stop = end < 0 ? s.length - 1 : end;
      out += s.slice(i, stop + 1);
      i = stop;
    } else if (ch === '-' && s[i + 1] === '-') {
      const end = s.indexOf('\n', i);
      const stop = end < 0 ? s.length - 1 : end;
      out += s.slice(i, stop + 1);
      i = stop;
    } else if (ch === '?') {
      params.push(positional++);
      out += `$${params.length}`;
    } else if (ch === '@' && /[A-Za-z_]/.test(s[i + 1] ?? '')) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(s.slice(i + 1))!;
      let n = named.get(m[0]);
      if (n === undefined) {
        params.push(m[0]);
        n = params.length;
        named.set(m[0], n);
      }
      out += `$${n}`;
      i += m[0].length;
    } else {
      out += ch;
    }
  }
  return { text: out, params };
}

/** better-sqlite3's arguments (positional values, then at most one object of named ones) as `$n` values. */
export function bind(t: Translated, args: unknown[]): unknown[] {
  const positional: unknown[] = [];
  let named: Record<string, unknown> = {};
  for (const a of args) {
    if (a !== null && typeof a === 'object' && !Array.isArray(a)) named = { ...named, ...(a as Record<string, unknown>) };
    else positional.push(a);
  }
  return t.params.map((p) => {
    const v = typeof p === 'number' ? positional[p] : named[p];
    if (v === undefined) throw new Error(`no value for SQL parameter ${typeof p === 'number' ? `#${p + 1}` : `@${p}`}`);
    return typeof v === 'boolean' ? (v ? 1 : 0) : v;
  });
}
