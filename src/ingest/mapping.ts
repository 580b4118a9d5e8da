/**
 * Which field of a record each event (or member) field is read from: the built-in names, a
 * source's paths (config/sources.ts), and `--map` over both. Plain data, so that it crosses to the
 * parser's thread as it is; `extract` applies it to one JSON record.
 */
import type { SourceDef } from '../config/schema.js';
import { UsageError } from '../errors.js';
import { formatPath, parsePath, valueAt } from '../util/json-path.js';
import { closest } from '../util/suggest.js';
import { EVENT_FIELDS, EVENT_OFFSET, MEMBER_FIELDS } from './field-names.js';
import type { Format } from './source.js';

export type Given = 'default' | 'source' | 'map';

export interface FieldRead {
  field: string;
  /** The paths as written (a CSV column name, or a JSON path), tried in order. */
  from: string[];
  paths: string[][];
  given: Given;
}

export interface Mapping {
  kind: 'events' | 'members';
  /** The source's name, or null for the built-in field names. */
  source: string | null;
  format?: Format;
  fields: FieldRead[];
  /** properties made of every key not mapped, at the top level (`*`) or of one object (`properties.*`); `exclude`: the keys there that fields read. */
  rest: { under: string[]; from: string; given: Given; exclude: string[] } | null;
  /** GA4-style parameters flattened into properties. */
  params: { path: string[]; from: string } | null;
  time_unit: SourceDef['time_unit'];
  naive_zone: string | null;
}

function parsed(text: string, field: string): string[] {
  const p = parsePath(text);
  if ('error' in p) throw new UsageError(`${field}: ${p.error}`);
  return p;
}

/** The mapping of a kind of file: built-in names, then the source's fields, then --map FIELD=PATH. */
export function buildMapping(kind: 'events' | 'members', source: { name: string; def: SourceDef } | null, map: Record<string, string>): Mapping {
  const names: readonly string[] = kind === 'events' ? [...EVENT_FIELDS, EVENT_OFFSET] : MEMBER_FIELDS;
  const fromSource = (source?.def.fields ?? {}) as Record<string, string | string[] | undefined>;
  const fields: FieldRead[] = [];
  let rest: Mapping['rest'] = null;
  for (const field of names) {
    const given: Given = map[field] !== undefined ? 'map' : fromSource[field] !== undefined ? 'source' : 'default';
    const raw = map[field] ?? fromSource[field] ?? (field === EVENT_OFFSET || source ? undefined : field);
    if (raw === undefined) continue;
    const from = Array.isArray(raw) ? raw : [raw];
    if (field === 'properties' && (from[0] === '*' || from[0]!.endsWith('.*'))) {
      rest = { under: from[0] === '*' ? [] : parsed(from[0]!.slice(0, -2), field), from: from[0]!, given, exclude: [] };
      continue;
    }
    fields.push({ field, from, paths: from.map((f) => parsed(f, field)), given });
  }
  const params = source?.def.params ? { path: parsed(source.def.params, 'params'), from: source.def.params } : null;
  if (rest) {
    const depth = rest.under.length;
    const inside = (p: string[]) => p.length === depth + 1 && rest!.under.every((n, k) => p[k] === n);
    rest.exclude = [...new Set([...fields.flatMap((f) => f.paths.filter(inside).map((p) => p[depth]!)), ...(params && depth === 0 ? [params.path[0]!] : [])])];
  }
  return {
    kind,
    source: source?.name ?? null,
    format: source?.def.format,
    fields,
    rest,
    params,
    time_unit: source?.def.time_unit ?? 'iso',
    naive_zone: source?.def.naive_zone ?? null,
  };
}

/** Plain field names, each read from the column (or key) of its name unless --map names another. */
export function namesMapping(fields: readonly string[], map: Record<string, string> = {}): Mapping {
  return {
    kind: 'events',
    source: null,
    fields: fields.map((field) => {
      const from = map[field] ?? field;
      return { field, from: [from], paths: [parsed(from, field)], given: map[field] !== undefined ? ('map' as const) : ('default' as const) };
    }),
    rest: null,
    params: null,
    time_unit: 'iso',
    naive_zone: null,
  };
}

/** The mapping as the batch report shows it: field -> where it was read from. */
export function describeMapping(m: Mapping): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of m.fields) out[f.field] = f.from.join(' | ');
  if (m.rest) out.properties = m.rest.from;
  if (m.params) out.properties = `${m.rest ? `${m.rest.from} + ` : ''}${m.params.from} (flattened)`;
  return out;
}

/** Who asked for a field to be read from `from`, as messages name it: `--map timezone=tz`, or the source. */
export function askedBy(m: Mapping, f: FieldRead, from: string): string {
  return f.given === 'map' ? `--map ${f.field}=${from}` : `source ${m.source} reads ${f.field} from "${from}"`;
}

/** How often each mapped path was found, per field: a path no record has is a warning, not silence. */
export class PathsSeen {
  records = 0;
  readonly found: number[][];
  /** Keys seen beside a path that was missing (its parent object's), for "did you mean". */
  readonly near = new Set<string>();
  constructor(readonly mapping: Mapping) {
    this.found = mapping.fields.map((f) => f.paths.map(() => 0));
  }

  private misses = 0;

  missedIn(obj: Record<string, unknown>, path: readonly string[]): void {
    // The first records tell the keys there are; a path missing from a million records costs no more.
    if (this.near.size >= 200 || ++this.misses > 100) return;
    const parent = path.length > 1 ? valueAt(obj, path.slice(0, -1)) : obj;
    if (parent === null || typeof parent !== 'object' || Array.isArray(parent)) return;
    for (const k of Object.keys(parent).slice(0, 50)) this.near.add(formatPath([...path.slice(0, -1), k]));
  }

  /** One warning per mapped path (asked for by a source or --map) that no record of the input had. */
  warnings(label: string, topLevel: Iterable<string>): string[] {
    const out: string[] = [];
    if (this.records === 0) return out;
    const m = this.mapping;
    m.fields.forEach((f, i) => {
      if (f.given === 'default') return;
      f.paths.forEach((p, j) => {
        if (this.found[i]![j]! > 0) return;
        const from = f.from[j]!;
        const who = askedBy(m, f, from);
        const near = closest(formatPath(p), [...this.near, ...topLevel]);
        out.push(`${label}: ${who}, but no record has it (0 of ${this.records})${near ? `; did you mean "${near}"?` : ''}`);
      });
    });
    return out;
  }
}

/** GA4's typed parameter values: the one that is set, an int64 written as text read as a number when exact. */
function paramValue(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v ?? null;
  const o = v as Record<string, unknown>;
  for (const k of ['string_value', 'int_value', 'float_value', 'double_value']) {
    const x = o[k];
    if (x === undefined || x === null) continue;
    if (k === 'int_value' && typeof x === 'string' && /^-?\d+$/.test(x) && Number.isSafeInteger(Number(x))) return Number(x);
    if ((k === 'float_value' || k === 'double_value') && typeof x === 'string' && x.trim() !== '' && Number.isFinite(Number(x))) return Number(x);
    return x;
  }
  return null;
}

/**
 * The fields of one JSON record under a mapping; `error` for a record whose parameters are not the
 * array of {key, value} the source declares. A path of one name matches a key case aside, as
 * column names do; deeper paths match exactly.
 */
export function extract(m: Mapping, obj: Record<string, unknown>, seen: PathsSeen): { fields: Record<string, unknown>; error?: string } {
  const fields: Record<string, unknown> = {};
  let lower: Map<string, string> | null = null;
  for (let i = 0; i < m.fields.length; i++) {
    const f = m.fields[i]!;
    for (let j = 0; j < f.paths.length; j++) {
      const p = f.paths[j]!;
      let v: unknown;
      if (p.length === 1) {
        const name = p[0]!;
        if (Object.hasOwn(obj, name)) v = obj[name];
        else {
          lower ??= new Map(Object.keys(obj).map((k) => [k.toLowerCase(), k]));
          const k = lower.get(name.toLowerCase());
          if (k !== undefined) v = obj[k];
        }
      } else v = valueAt(obj, p);
      if (v === undefined) {
        if (seen.found[i]![j] === 0 && f.given !== 'default') seen.missedIn(obj, p);
        continue;
      }
      seen.found[i]![j]!++;
      if (v === null && j < f.paths.length - 1) continue; // an alternative may have it
      fields[f.field] = v;
      break;
    }
  }
  if (m.rest) {
    const base = m.rest.under.length ? valueAt(obj, m.rest.under) : obj;
    if (base !== undefined && base !== null && typeof base === 'object' && !Array.isArray(base)) {
      const props: Record<string, unknown> = {};
      const mapped = m.rest.exclude;
      for (const k of Object.keys(base)) if (!mapped.includes(k)) props[k] = (base as Record<string, unknown>)[k];
      fields.properties = props;
    }
  }
  if (m.params) {
    const list = valueAt(obj, m.params.path);
    if (list !== undefined && list !== null) {
      if (!Array.isArray(list)) return { fields, error: `${m.params.from}: expected an array of {key, value}, got ${typeof list}` };
      const props: Record<string, unknown> = { ...((fields.properties as Record<string, unknown> | undefined) ?? {}) };
      for (const p of list) {
        const key = (p as { key?: unknown } | null)?.key;
        if (typeof key !== 'string' || key === '') return { fields, error: `${m.params.from}: expected an array of {key, value}, with a key in each` };
        props[key] = paramValue((p as { value?: unknown }).value);
      }
      fields.properties = props;
    }
  }
  return { fields };
}

/** The top-level names a mapping reads: any other key of a record is an extra column. */
export function topLevelNames(m: Mapping): Set<string> {
  const out = new Set<string>();
  for (const f of m.fields) for (const p of f.paths) out.add(p[0]!.toLowerCase());
  if (m.rest && m.rest.under.length) out.add(m.rest.under[0]!.toLowerCase());
  if (m.params) out.add(m.params.path[0]!.toLowerCase());
  return out;
}
