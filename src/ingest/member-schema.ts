import { z } from 'zod';
import { isValidDate } from '../time/datetime.js';
import type { MemberRow } from '../store/ingest.js';
import { optionalText, requiredId } from './fields.js';

const TRUE = new Set(['true', 'yes', 'y', '1', 't']);
const FALSE = new Set(['false', 'no', 'n', '0', 'f', '']);

const consent = z
  .union([z.boolean(), z.number(), z.string(), z.null()], {
    error: (iss) => `${JSON.stringify(iss.input)} is not a yes/no value (use true/false, yes/no or 1/0)`,
  })
  .transform((v, ctx): 0 | 1 => {
  if (v === null || v === undefined) return 0;
  if (typeof v === 'boolean') return v ? 1 : 0;
  const s = String(v).trim().toLowerCase();
  if (TRUE.has(s)) return 1;
  if (FALSE.has(s)) return 0;
  ctx.addIssue({ code: 'custom', message: `${JSON.stringify(v)} is not a yes/no value (use true/false, yes/no or 1/0)` });
  return z.NEVER;
});

const birthDate = optionalText.refine((v) => v === null || isValidDate(v), {
  error: (iss) => `${JSON.stringify(iss.input)} is not a valid date (expected YYYY-MM-DD)`,
});

// ZIPs are text: a number would lose the leading zero of 02134. ZIP+4 is accepted and kept as written.
const zip = z
  .union([z.string(), z.null()], {
    error: (iss) => `expected the ZIP code as text (a number loses leading zeros), got ${JSON.stringify(iss.input)}`,
  })
  .transform((v) => (v ?? '').trim() || null)
  .refine((v) => v === null || /^\d{5}(-?\d{4})?$/.test(v), {
    error: (iss) => `${JSON.stringify(iss.input)} is not a US ZIP code (expected 5 digits, or ZIP+4)`,
  });

const email = optionalText.refine((v) => v === null || /^[^\s@]+@[^\s@]+$/.test(v), {
  error: (iss) => `${JSON.stringify(iss.input)} is not an email address`,
});

export const MemberInput = z.object({
  user_id: requiredId,
  email: email.optional(),
  first_name: optionalText.optional(),
  last_name: optionalText.optional(),
  birth_date: birthDate.optional(),
  zip: zip.optional(),
  state: optionalText.optional(),
  partner: optionalText.optional(),
  share_consent: consent.optional(),
});
export type MemberInput = z.output<typeof MemberInput>;

export function toMemberRow(m: MemberInput, line: number): MemberRow {
  return {
    user_id: m.user_id,
    email: m.email ?? null,
    first_name: m.first_name ?? null,
    last_name: m.last_name ?? null,
    birth_date: m.birth_date ?? null,
    zip: m.zip ?? null,
    state: m.state ? m.state.toUpperCase() : null,
    partner: m.partner ?? null,
    share_consent: m.share_consent ?? 0,
    line,
  };
}
