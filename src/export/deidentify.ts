/**
 * The de-identification rules of a partner export, as pure functions: each takes a value from the
 * members/grants/activity tables and returns what may leave the building. The README states the same
 * rules; test/export/deidentify.test.ts pins them.
 */
import { createHmac } from 'node:crypto';
import { addDays, daysInMonth, parseDate } from '../time/datetime.js';
import { US_STATE_CODES } from '../util/us-states.js';
import { RESTRICTED_ZIP3, TOP_CODE_AGE } from './reference-data.js';


export type DatePrecision = 'year' | 'month' | 'day';

/**
 * A member's pseudonym at one partner: lowercase hex HMAC-SHA256 of the user_id (UTF-8), keyed with
 * the partner's key. Keyed (not a plain hash) so that nobody without the key can confirm a guessed
 * user_id; per partner so that two partners cannot join their files on it.
 */
export function pseudonym(key: Buffer, userId: string): string {
  return createHmac('sha256', key).update(userId, 'utf8').digest('hex');
}

/** The label the key fingerprint is derived under (part of the format: changing it changes every fingerprint). */
export const FINGERPRINT_LABEL = 'rewards partner key fingerprint v1';

/**
 * First 16 hex characters of HMAC-SHA256(key, FINGERPRINT_LABEL): lets a partner tell key rotations
 * apart. Keyed, not a plain hash of the key, so that the fingerprint is no oracle for guessed keys
 * beyond what a pseudonym already is, and nothing else computed from the key ever equals it.
 */
export function keyFingerprint(key: Buffer): string {
  return createHmac('sha256', key).update(FINGERPRINT_LABEL, 'utf8').digest('hex').slice(0, 16);
}

/**
 * The first three digits of a US ZIP (ZIP+4 accepted), `000` for the sparsely populated areas Safe
 * Harbor lists, and '' for anything that is not a ZIP (a malformed value could be anything, so none of
 * it is kept).
 */
export function zip3(zip: string | null | undefined): string {
  // Called once per member of a population: the plain five-digit ZIP skips the regular expression.
  if (zip && zip.length === 5 && isDigits(zip, 0, 5)) {
    const z3 = zip.slice(0, 3);
    return RESTRICTED_ZIP3.has(z3) ? '000' : z3;
  }
  const m = /^\s*(\d{3})\d{2}(?:-?\d{4})?\s*$/.exec(zip ?? '');
  if (!m) return '';
  const z3 = m[1]!;
  return RESTRICTED_ZIP3.has(z3) ? '000' : z3;
}

export const TOP_CODED = `${TOP_CODE_AGE}+`;

/**
 * Birth year, or the top code (`80+`, see TOP_CODE_AGE) when the member is that old on the as-of
 * date, or turns that old later in that calendar year. The second half is deliberate: if a 1946 birth
 * year were shown for the 79-year-olds of an as-of date in 2026 while the 80-year-olds of the same
 * year were top-coded, the year shown would reveal that the birthday falls after the as-of day, i.e.
 * something finer than the year. Missing or invalid dates give ''.
 */
export function birthYear(birthDate: string | null | undefined, asOf: string): string {
  const y = birthDate ? yearOfDate(birthDate) : -1;
  const a = asOfYear(asOf);
  if (y < 0 || a === null) return '';
  if (y > a) return ''; // born after the as-of date: a data error, not something to pass on
  return a - y >= TOP_CODE_AGE ? TOP_CODED : String(y);
}

function isDigits(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** The value of the decimal digits s[from, to), or -1 if one of them is not a digit. */
function digits(s: string, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n;
}

/**
 * The year of a `YYYY-MM-DD` that names a real (proleptic Gregorian) day, else -1: what
 * `parseDate(s)?.y` says, without its regular expression and Date objects, which cost more than
 * the rest of a member's de-identification. test/export/fast-paths.test.ts checks the two agree.
 */
export function yearOfDate(s: string): number {
  if (s.length !== 10 || s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45) return -1;
  const y = digits(s, 0, 4);
  const m = digits(s, 5, 7);
  const d = digits(s, 8, 10);
  if (y < 0 || m < 1 || m > 12 || d < 1) return -1;
  const leap = y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  return d <= (m === 2 && leap ? 29 : DAYS_IN_MONTH[m - 1]!) ? y : -1;
}

// Called once per member with the same as-of date: parse it once.
let lastAsOf = '';
let lastAsOfYear: number | null = null;
function asOfYear(asOf: string): number | null {
  if (asOf !== lastAsOf) {
    lastAsOf = asOf;
    lastAsOfYear = parseDate(asOf)?.y ?? null;
  }
  return lastAsOfYear;
}

/**
 * Ten-year band of an exported birth year: `1980-1989`; the top code and bands stay as they are;
 * '' (unknown) stays ''.
 */
export function birthYearBand(exportedBirthYear: string): string {
  if (!/^\d{4}$/.test(exportedBirthYear)) return exportedBirthYear;
  const start = Math.floor(Number(exportedBirthYear) / 10) * 10;
  return `${start}-${start + 9}`;
}

/** How many leading characters of a YYYY-MM-DD date each precision keeps (SQL uses the same via substr). */
export const PERIOD_LENGTH: Readonly<Record<DatePrecision, number>> = { year: 4, month: 7, day: 10 };

/** A YYYY-MM-DD date cut to the partner's precision: `2026`, `2026-03` or `2026-03-14`. */
export function generaliseDate(date: string, precision: DatePrecision): string {
  if (!parseDate(date)) return '';
  return date.slice(0, PERIOD_LENGTH[precision]);
}

/**
 * The periods at a precision that overlap [start, end], each with the part of [start, end] it covers:
 * what activity is grouped by. Empty when end < start.
 */
export function periodsBetween(start: string, end: string, precision: DatePrecision): { period: string; start: string; end: string }[] {
  const out: { period: string; start: string; end: string }[] = [];
  let from = start;
  while (from <= end) {
    const d = parseDate(from);
    if (!d) throw new Error(`periodsBetween: bad date ${from}`);
    const last =
      precision === 'year'
        ? `${from.slice(0, 4)}-12-31`
        : precision === 'month'
          ? `${from.slice(0, 7)}-${String(daysInMonth(d.y, d.m)).padStart(2, '0')}`
          : from;
    const to = last < end ? last : end;
    out.push({ period: generaliseDate(from, precision), start: from, end: to });
    from = addDays(to, 1);
  }
  return out;
}

/**
 * The state as exported beside a zip3: none beside `000`, since several states have exactly one
 * restricted area (NH has only 036) and the pair would name it.
 */
export function stateBesideZip3(exportedZip3: string, state: string | null | undefined): string {
  return exportedZip3 === '000' ? '' : stateCode(state);
}

/** A USPS state code, or '' for anything else (the column is free text at ingest). */
export function stateCode(state: string | null | undefined): string {
  if (state && US_STATE_CODES.has(state)) return state; // already a code: trimming and upper-casing change nothing
  const s = (state ?? '').trim().toUpperCase();
  return US_STATE_CODES.has(s) ? s : '';
}

/**
 * Spreadsheet formula injection: a cell that starts with = + - @, a tab or a carriage return can be run
 * as a formula when the partner opens the CSV in Excel or Sheets. Such cells get a leading apostrophe
 * (OWASP's recommendation), which spreadsheets show as text and which changes nothing else.
 */
export function neutraliseFormula(cell: string): string {
  return /^[=+\-@\t\r]/.test(cell) ? `'${cell}` : cell;
}

/**
 * The last day of the last complete period at `precision` on or before `asOf`: a Safe Harbor release
 * carries data up to this day and no further, so that two releases never differ by data whose date
 * is finer than the precision (an export as of 2026-03-15 beside one as of 2026-03-14 would otherwise
 * date every difference to March 15th). `2026-12-31` for any as-of in 2027 before its last day.
 */
export function releaseCutoff(asOf: string, precision: DatePrecision): string {
  const d = parseDate(asOf);
  if (!d) throw new Error(`releaseCutoff: bad date ${asOf}`);
  if (precision === 'day') return asOf;
  const periodEnd = precision === 'year' ? `${asOf.slice(0, 4)}-12-31` : `${asOf.slice(0, 7)}-${String(daysInMonth(d.y, d.m)).padStart(2, '0')}`;
  if (asOf === periodEnd) return asOf;
  // the day before the period containing asOf began
  const periodStart = precision === 'year' ? `${asOf.slice(0, 4)}-01-01` : `${asOf.slice(0, 7)}-01`;
  return addDays(periodStart, -1);
}

/** The period a cutoff closes, as the files write periods: `2026`, `2026-03` or `2026-03-14`. */
export function releasePeriod(cutoff: string, precision: DatePrecision): string {
  return cutoff.slice(0, PERIOD_LENGTH[precision]);
}
