/**
 * A member row. Only `user_id` can reject it: the other fields are optional personal data, and a bad
 * one (a ZIP of `ABCDE`, a birth date of 1990-02-30) must not cost the member its partner, consent
 * or rewards. Such a field is stored empty (consent as false) and reported as a field problem.
 */
import { z } from 'zod';
import { isValidDate } from '../time/datetime.js';
import { US_STATE_CODES } from '../util/us-states.js';
import type { FieldProblemRow, MemberRow } from '../store/ingest.js';
import { optionalText, requiredId, shown } from './fields.js';
import { cutRaw } from './limits.js';


const TRUE = new Set(['true', 'yes', 'y', '1', 't']);
const FALSE = new Set(['false', 'no', 'n', '0', 'f', '']);

const consent = z
  .union([z.boolean(), z.number(), z.string(), z.null()], {
    error: (iss) => `${shown(iss.input)} is not a yes/no value (use true/false, yes/no or 1/0)`,
  })
  .transform((v, ctx): 0 | 1 => {
    if (v === null || v === undefined) return 0;
    if (typeof v === 'boolean') return v ? 1 : 0;
    const s = String(v).trim().toLowerCase();
    if (TRUE.has(s)) return 1;
    if (FALSE.has(s)) return 0;
    ctx.addIssue({ code: 'custom', message: `${shown(v)} is not a yes/no value (use true/false, yes/no or 1/0)` });
    return z.NEVER;
  });

const birthDate = optionalText.refine((v) => v === null || isValidDate(v), {
  error: (iss) => `${shown(iss.input)} is not a valid date (expected YYYY-MM-DD)`,
});

// ZIPs are text: a number would lose the leading zero of 02134. ZIP+4 is accepted and kept as written.
const zip = z
  .union([z.string(), z.null()], {
    error: (iss) => `expected the ZIP code as text (a number loses leading zeros), got ${shown(iss.input)}`,
  })
  .transform((v) => (v ?? '').trim() || null)
  .refine((v) => v === null || /^\d{5}(-?\d{4})?$/.test(v), {
    error: (iss) => `${shown(iss.input)} is not a US ZIP code (expected 5 digits, or ZIP+4)`,
  });

const email = optionalText.refine((v) => v === null || /^[^\s@]+@[^\s@]+$/.test(v), {
  error: (iss) => `${shown(iss.input)} is not an email address`,
});

const state = optionalText
  .refine((v) => v === null || US_STATE_CODES.has(v.toUpperCase()), {
    error: (iss) => `${shown(iss.input)} is not a USPS state code (e.g. MA, PR)`,
  })
  .transform((v) => (v === null ? null : v.toUpperCase()));

/** The optional fields, each checked on its own. */
const OPTIONAL = {
  email,
  first_name: optionalText,
  last_name: optionalText,
  birth_date: birthDate,
  zip,
  state,
  partner: optionalText,
  share_consent: consent,
} as const;

type Optional = { [K in keyof typeof OPTIONAL]: z.output<(typeof OPTIONAL)[K]> };

/** A member row read: the stored row and its field problems, or why the whole row is rejected. */
export type MemberRead = { row: MemberRow; problems: FieldProblemRow[] } | { error: string };

export function readMember(fields: Record<string, unknown>, line: number): MemberRead {
  const id = requiredId.safeParse(fields.user_id);
  if (!id.success) return { error: `user_id: ${id.error.issues[0]?.message ?? 'is invalid'}` };
  const problems: FieldProblemRow[] = [];
  const values: Partial<Optional> = {};
  for (const [name, schema] of Object.entries(OPTIONAL) as [keyof Optional, z.ZodType][]) {
    const input = fields[name];
    if (input === undefined) continue;
    const r = schema.safeParse(input);
    if (r.success) (values as Record<string, unknown>)[name] = r.data;
    else problems.push({ line, field: name, value: cutRaw(typeof input === 'string' ? input : shown(input)), reason: r.error.issues[0]?.message ?? 'is invalid' });
  }
  return {
    row: {
      user_id: id.data,
      email: values.email ?? null,
      first_name: values.first_name ?? null,
      last_name: values.last_name ?? null,
      birth_date: values.birth_date ?? null,
      zip: values.zip ?? null,
      state: values.state ?? null,
      partner: values.partner ?? null,
      share_consent: values.share_consent ?? 0,
      line,
    },
    problems,
  };
}
