import { z } from 'zod';

// Control characters other than tab have no place in an id or a type; they usually mean a broken export.
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f]/;

/** A required text field: trimmed, non-empty, at most 500 characters, no control characters. */
export const requiredText = z
  .string({ error: (iss) => (iss.input === undefined || iss.input === null ? 'is required' : `expected text, got ${JSON.stringify(iss.input)}`) })
  .trim()
  .min(1, 'is required and must not be empty')
  .max(500, 'is longer than 500 characters')
  .refine((s) => !CONTROL.test(s), 'contains control characters');

/** An optional text field: empty means absent (null). */
export const optionalText = z
  .union([z.string(), z.null()], { error: (iss) => `expected text, got ${JSON.stringify(iss.input)}` })
  .transform((s) => {
    const t = s?.trim() ?? '';
    return t === '' ? null : t;
  });

const notAnId = {
  error: (iss: { input?: unknown }) =>
    typeof iss.input === 'number' && Number.isInteger(iss.input) && !Number.isSafeInteger(iss.input)
      ? `is a number too large to be read exactly (${JSON.stringify(iss.input)}); write ids as JSON strings`
      : `expected text or an integer, got ${JSON.stringify(iss.input)}`,
};

/** Ids may come as numbers in NDJSON exports; they are stored as text. */
export const idText = z
  .union([z.string(), z.number().int(notAnId).nonnegative(notAnId)], {
    error: (iss) => (iss.input === undefined || iss.input === null ? 'is required' : `expected text or an integer, got ${JSON.stringify(iss.input)}`),
  })
  .transform((v) => String(v).trim())
  .pipe(z.string().max(200, 'is longer than 200 characters').refine((s) => !CONTROL.test(s), 'contains control characters'));

/** JSON with object keys sorted at every level, so equal content gives equal text. */
export function canonicalJson(v: unknown): string {
  return JSON.stringify(sortKeys(v));
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') {
    // No prototype: a "__proto__" key (JSON.parse makes it an own property) must stay a plain key.
    const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
    for (const k of Object.keys(v).sort()) out[k] = sortKeys((v as Record<string, unknown>)[k]);
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
