/** Field checks shared by the row schemas (ids, text, canonical JSON) and their messages. */
import { z } from 'zod';

// Control characters other than tab have no place in an id or a type; they usually mean a broken export.
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f]/;

/** Why a field's value is refused; returned (not thrown) by a field check. */
export class Problem {
  constructor(readonly message: string) {}
}

/**
 * A zod field from one check function. Each field is a single transform rather than a chain of
 * unions, pipes and refinements: the messages are the same, and validating a million rows costs a
 * fraction of the time (the chains dominated ingest's profile).
 */
export function field<T>(check: (v: unknown) => T | Problem) {
  return z.unknown().transform((v, ctx): T => {
    const r = check(v);
    if (r instanceof Problem) {
      ctx.addIssue({ code: 'custom', message: r.message });
      return z.NEVER;
    }
    return r;
  });
}

type Checks = Record<string, (v: unknown) => unknown>;
type RowOf<C extends Checks> = { [K in keyof C]: Exclude<ReturnType<C[K]>, Problem> };

/**
 * A zod schema for one input row from one check per field. The row is validated by a single zod
 * transform that runs the checks in order and reports each problem under its field's name, exactly
 * as a z.object of per-field schemas would, at a fraction of the cost per row.
 */
export function rowSchema<C extends Checks>(checks: C) {
  const entries = Object.entries(checks);
  // z.custom, not z.record: the readers always hand over a plain object, and z.record re-validated
  // every key and value of it, a third of zod's cost per row.
  return z.custom<Record<string, unknown>>((v) => typeof v === 'object' && v !== null && !Array.isArray(v), 'expected an object').transform((row, ctx): RowOf<C> => {
    const out: Record<string, unknown> = {};
    let ok = true;
    for (const [name, check] of entries) {
      const r = check(row[name]);
      if (r instanceof Problem) {
        ok = false;
        ctx.addIssue({ code: 'custom', message: r.message, path: [name] });
      } else out[name] = r;
    }
    return ok ? (out as RowOf<C>) : z.NEVER;
  });
}

/**
 * A value as a reason quotes it: JSON (so control characters are escaped), cut to 80 characters,
 * so that a megabyte value makes a short reason. Never throws (a value nested too deep to print).
 */
export function shown(v: unknown): string {
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = Array.isArray(v) ? '[...]' : '{...}';
  }
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
const got = shown;

export function checkRequiredText(v: unknown): string | Problem {
  if (v === undefined || v === null) return new Problem('is required');
  if (typeof v !== 'string') return new Problem(`expected text, got ${got(v)}`);
  const t = v.trim();
  if (t === '') return new Problem('is required and must not be empty');
  if (t.length > 500) return new Problem('is longer than 500 characters');
  if (CONTROL.test(t)) return new Problem('contains control characters');
  return t;
}

/** Empty means absent (null); otherwise the limits of required text. */
export function checkOptionalText(v: unknown): string | null | Problem {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') return new Problem(`expected text, got ${got(v)}`);
  const t = v.trim();
  if (t === '') return null;
  if (t.length > 500) return new Problem('is longer than 500 characters');
  if (CONTROL.test(t)) return new Problem('contains control characters');
  return t;
}

/** Ids may come as numbers in NDJSON exports; they are stored as text. Undefined stays undefined. */
export function checkId(v: unknown): string | undefined | Problem {
  if (v === undefined || v === null) return undefined;
  let t: string;
  if (typeof v === 'string') t = v.trim();
  else if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) t = String(v);
  else if (typeof v === 'number' && Number.isInteger(v) && !Number.isSafeInteger(v)) {
    return new Problem(`is a number too large to be read exactly (${got(v)}); write ids as JSON strings`);
  } else return new Problem(`expected text or an integer, got ${got(v)}`);
  if (t.length > 200) return new Problem('is longer than 200 characters');
  if (CONTROL.test(t)) return new Problem('contains control characters');
  return t;
}

export function checkRequiredId(v: unknown): string | Problem {
  if (v === undefined || v === null) return new Problem('is required');
  const r = checkId(v);
  if (r instanceof Problem) return r;
  return r ? r : new Problem('is required and must not be empty');
}

/** A required text field: trimmed, non-empty, at most 500 characters, no control characters. */
export const requiredText = field(checkRequiredText);
/** An optional text field: empty means absent (null). */
export const optionalText = field(checkOptionalText);
/** An optional id (text or integer). */
export const idText = field(checkId);
/** A required, non-empty id. */
export const requiredId = field(checkRequiredId);

/** JSON with object keys sorted at every level, so equal content gives equal text. */
export function canonicalJson(v: unknown): string {
  return JSON.stringify(isCanonical(v) ? v : sortKeys(v));
}

/** Most exports already write flat objects with sorted keys: those need no copy. */
function isCanonical(v: unknown): boolean {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return false;
  let prev = '';
  for (const k in v) {
    if (!Object.hasOwn(v, k)) return false;
    const x = (v as Record<string, unknown>)[k];
    if (k < prev || (x !== null && typeof x === 'object')) return false;
    prev = k;
  }
  return true;
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') {
    const keys = Object.keys(v).sort();
    // A plain object keeps V8's fast mode, where JSON.stringify is about twice as fast; only a
    // "__proto__" key (JSON.parse makes it an own property) needs a prototype-less object.
    const out: Record<string, unknown> = keys.includes('__proto__') ? (Object.create(null) as Record<string, unknown>) : {};
    for (const k of keys) out[k] = sortKeys((v as Record<string, unknown>)[k]);
    return out;
  }
  return v;
}

/** `occurred_at: "x" is not ...` from a zod error: the first issue, named by its field. */
export function describeIssues(err: z.ZodError): string {
  return err.issues
    .slice(0, 3)
    .map((i) => `${i.path.map(String).join('.') || 'record'}: ${i.message}`)
    .join('; ');
}
