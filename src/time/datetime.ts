/** Dates and date-times: parsing, local dates in IANA zones, and calendar arithmetic on YYYY-MM-DD. */
import { tzOffset } from '@date-fns/tz';

/**
 * Date-times as exports write them: ISO-8601 / RFC 3339 with `Z`, a numeric offset, or no offset at all.
 * Parsing is hand-written (not Date.parse) because Date.parse accepts 2026-02-30 and guesses zones.
 */
const DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?$/;
const DATE_ONLY = /^(\d{4})-(\d{2})-(\d{2})$/;

export type ZoneKind = 'utc' | 'offset' | 'none';

export interface ParsedDateTime {
  /** YYYY-MM-DD as written. */
  date: string;
  /** Milliseconds since the epoch, treating a date-time without offset as if it were UTC. */
  ms: number;
  /** Offset from UTC in minutes as written (0 for Z and for no offset). */
  offsetMinutes: number;
  zone: ZoneKind;
  /** Normalised text used for ids: UTC instant for Z/offset, the wall-clock time otherwise. */
  canonical: string;
}

/** Date.UTC, minus its quirk of reading years 0-99 as 1900-1999. */
function utcMs(y: number, mo: number, d: number, h = 0, mi = 0, s = 0, ms = 0): number {
  if (y >= 100) return Date.UTC(y, mo, d, h, mi, s, ms);
  const t = new Date(Date.UTC(2000, mo, d, h, mi, s, ms));
  t.setUTCFullYear(y, mo, d);
  return t.getTime();
}

const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

export function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return MONTH_DAYS[month - 1] ?? NaN;
}

/** `YYYY-MM-DD` that names a real calendar day, or null. */
export function parseDate(s: string): { y: number; m: number; d: number } | null {
  const m = DATE_ONLY.exec(s);
  if (!m) return null;
  const y = Number(m[1]);
  const mo = Number(m[2]);
  const d = Number(m[3]);
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo)) return null;
  return { y, m: mo, d };
}

export function isValidDate(s: string): boolean {
  return parseDate(s) !== null;
}

/**
 * Parses an ISO-8601 / RFC 3339 date-time (see DATE_TIME), or returns null. Exports almost always
 * write one of a few fixed shapes (`2026-03-01T14:30:00Z`, `...:00.123Z`, `...:00-05:00`): those
 * are read by position, which on a large load is a second's CPU less on the parser's thread than
 * the pattern with its twelve captures; anything else goes through the pattern. Both give the same
 * result for every input (test/ingest/datetime.test.ts compares them).
 */
export function parseDateTime(s: string): ParsedDateTime | null {
  return fixedDateTime(s) ?? parseDateTimeByPattern(s);
}

/** The digits at [i, i + n) as a number, or -1 if any is not a digit. */
function num(s: string, i: number, n: number): number {
  let v = 0;
  for (let k = i; k < i + n; k++) {
    const c = s.charCodeAt(k) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

/**
 * The fixed shapes, in range: `YYYY-MM-DDTHH:MM:SS`, then optionally `.sss`, then `Z`, `+HH:MM`,
 * `-HH:MM` or nothing. Null for anything else, valid or not: the pattern then decides.
 */
function fixedDateTime(s: string): ParsedDateTime | null {
  const len = s.length;
  if (len < 19 || len > 29) return null;
  if (s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45 || s.charCodeAt(10) !== 84 || s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58) return null;
  const y = num(s, 0, 4);
  const mo = num(s, 5, 2);
  const d = num(s, 8, 2);
  const h = num(s, 11, 2);
  const mi = num(s, 14, 2);
  const sec = num(s, 17, 2);
  if (y < 100 || mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo) || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59) return null;
  let at = 19;
  let ms = 0;
  if (s.charCodeAt(at) === 46) {
    ms = num(s, 20, 3);
    if (ms < 0) return null;
    at = 23;
  }
  const rest = len - at;
  let zone: ZoneKind;
  let offsetMinutes = 0;
  if (rest === 0) zone = 'none';
  else if (rest === 1 && s.charCodeAt(at) === 90) zone = 'utc';
  else if (rest === 6 && s.charCodeAt(at + 3) === 58) {
    const sign = s.charCodeAt(at);
    const oh = num(s, at + 1, 2);
    const om = num(s, at + 4, 2);
    if ((sign !== 43 && sign !== 45) || oh < 0 || oh > 23 || om < 0 || om > 59) return null;
    offsetMinutes = (sign === 45 ? -1 : 1) * (oh * 60 + om);
    zone = 'offset';
  } else return null;
  const wall = Date.UTC(y, mo - 1, d, h, mi, sec, ms);
  const instant = wall - offsetMinutes * 60_000;
  // The canonical text is the input itself whenever the input is already in toISOString's form.
  let canonical: string;
  if (zone === 'offset') canonical = new Date(instant).toISOString();
  else {
    const wallText = at === 23 ? s.slice(0, 23) : `${s.slice(0, 19)}.000`;
    canonical = zone === 'utc' ? (at === 23 ? s : `${wallText}Z`) : wallText;
  }
  return { date: s.slice(0, 10), ms: instant, offsetMinutes, zone, canonical };
}

/** parseDateTime() by the pattern alone: every shape DATE_TIME allows. */
export function parseDateTimeByPattern(s: string): ParsedDateTime | null {
  const m = DATE_TIME.exec(s);
  if (!m) return null;
  const [, ys, mos, ds, hs, mis, ss, frac, z, sign, ohs, oms] = m;
  const y = Number(ys);
  const mo = Number(mos);
  const d = Number(ds);
  const h = Number(hs);
  const mi = Number(mis);
  const sec = ss === undefined ? 0 : Number(ss);
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo) || h > 23 || mi > 59 || sec > 59) return null;
  const ms = Number(((frac ?? '') + '000').slice(0, 3));
  let offsetMinutes = 0;
  let zone: ZoneKind = 'none';
  if (z) zone = 'utc';
  else if (sign) {
    const oh = Number(ohs);
    const om = oms === undefined ? 0 : Number(oms); // ISO 8601 allows +hh (PostgreSQL writes it so)
    if (oh > 23 || om > 59) return null;
    offsetMinutes = (sign === '-' ? -1 : 1) * (oh * 60 + om);
    zone = 'offset';
  }
  const wall = utcMs(y, mo - 1, d, h, mi, sec, ms);
  if (Number.isNaN(wall)) return null;
  const instant = wall - offsetMinutes * 60_000;
  const date = `${ys}-${mos}-${ds}`;
  const canonical = zone === 'none' ? new Date(wall).toISOString().slice(0, -1) : new Date(instant).toISOString();
  return { date, ms: instant, offsetMinutes, zone, canonical };
}

const zoneNames = new Map<string, string | null>();
/**
 * The spelling ICU uses for an IANA zone name (`america/new_york` -> `America/New_York`), or null
 * for a name it does not know. Stored zones use this spelling, so one zone has one content hash.
 */
export function canonicalTimeZone(tz: string): string | null {
  let name = zoneNames.get(tz);
  if (name === undefined) {
    try {
      name = tz.length > 0 ? new Intl.DateTimeFormat('en-US', { timeZone: tz }).resolvedOptions().timeZone : null;
    } catch {
      name = null;
    }
    if (zoneNames.size > 10_000) zoneNames.clear();
    zoneNames.set(tz, name);
  }
  return name;
}

/** An IANA zone name this Node's ICU knows (aliases such as US/Eastern included). */
export function isValidTimeZone(tz: string): boolean {
  return canonicalTimeZone(tz) !== null;
}

// Offsets only change on transitions, which happen on 15-minute boundaries of UTC in every zone
// this century. Per zone, a UTC day whose offset is the same at its first and last 15-minute slot
// (all but a few days a year) is answered from one number per day; only a transition day looks at
// 15-minute slots. (Per-slot caching alone misses on most rows of a 100k-row file: 96 slots a day.)
const SLOT_MS = 15 * 60_000;
const DAY_MS = 86_400_000;
interface ZoneCache {
  /** UTC day number -> the offset all day, or NaN on a transition day. */
  days: Map<number, number>;
  slots: Map<number, number>;
}
const offsetCache = new Map<string, ZoneCache>();

function slotOffset(zc: ZoneCache, tz: string, slot: number): number {
  let off = zc.slots.get(slot);
  if (off === undefined) {
    off = tzOffset(tz, new Date(slot * SLOT_MS));
    if (zc.slots.size > 100_000) zc.slots.clear();
    zc.slots.set(slot, off);
  }
  return off;
}

export function zoneOffsetMinutes(tz: string, ms: number): number {
  if (tz === 'UTC') return 0;
  let zc = offsetCache.get(tz);
  if (!zc) offsetCache.set(tz, (zc = { days: new Map(), slots: new Map() }));
  const day = Math.floor(ms / DAY_MS);
  let off = zc.days.get(day);
  if (off === undefined) {
    const first = slotOffset(zc, tz, day * (DAY_MS / SLOT_MS));
    const last = slotOffset(zc, tz, (day + 1) * (DAY_MS / SLOT_MS) - 1);
    off = first === last ? first : NaN;
    if (zc.days.size > 100_000) zc.days.clear();
    zc.days.set(day, off);
  }
  return Number.isNaN(off) ? slotOffset(zc, tz, Math.floor(ms / SLOT_MS)) : off;
}

// Day number -> YYYY-MM-DD: events of a file fall on few days, and formatting a Date per row showed in the profile.
const dayNames = new Map<number, string>();
function dayName(day: number): string {
  let name = dayNames.get(day);
  if (name === undefined) {
    name = new Date(day * DAY_MS).toISOString().slice(0, 10);
    if (dayNames.size > 100_000) dayNames.clear();
    dayNames.set(day, name);
  }
  return name;
}

/** The calendar date (YYYY-MM-DD) of an instant in an IANA zone. */
export function dateInZone(ms: number, tz: string): string {
  return dayName(Math.floor((ms + zoneOffsetMinutes(tz, ms) * 60_000) / DAY_MS));
}

/**
 * The member's local date of an event, by the rules in the README:
 * 1. a timezone column: the date of the instant in that zone (a time without offset is wall-clock time there);
 * 2. else a numeric offset: the date as written;
 * 3. else `Z`: the date of the instant in the default zone (the config's, or UTC);
 *    no offset at all: local wall-clock time, the date as written.
 */
export function localDate(dt: ParsedDateTime, timezone: string | null, defaultZone: string): string {
  if (timezone) return dt.zone === 'none' ? dt.date : dateInZone(dt.ms, timezone);
  if (dt.zone === 'offset' || dt.zone === 'none') return dt.date;
  return dateInZone(dt.ms, defaultZone);
}

/** Adds whole days to a YYYY-MM-DD date. */
export function addDays(date: string, days: number): string {
  const p = parseDate(date);
  if (!p) throw new Error(`addDays: bad date ${date}`);
  return new Date(Date.UTC(p.y, p.m - 1, p.d + days)).toISOString().slice(0, 10);
}

/** Whole days from a to b (b - a). */
export function daysBetween(a: string, b: string): number {
  return Math.round((Date.parse(b + 'T00:00:00Z') - Date.parse(a + 'T00:00:00Z')) / 86_400_000);
}

/** Today's date in a zone, e.g. for "yesterday in the config's timezone". */
export function todayInZone(tz: string, now = Date.now()): string {
  return dateInZone(now, tz);
}

/** The instant of a wall-clock time (ms as if UTC) in a zone; in a gap or overlap, the offset before the change. */
export function instantOfWallTime(wallMs: number, tz: string): number {
  const first = wallMs - zoneOffsetMinutes(tz, wallMs) * 60_000;
  return wallMs - zoneOffsetMinutes(tz, first) * 60_000;
}

function two(n: number): string {
  return String(n).padStart(2, '0');
}

/**
 * An instant as ISO 8601 text at a fixed offset (`+00:00` rather than `Z` when an offset is known:
 * the date as written is then the local date). `micros` (0-999999) keeps the precision of a
 * microsecond clock; digits are written only as far as they are not zero.
 */
export function isoAtOffset(ms: number, offsetMinutes: number | null, micros?: number): string {
  const whole = Math.floor(ms / 1000) * 1000;
  const frac = micros ?? Math.round((ms - whole) * 1000);
  const base = new Date(whole + (offsetMinutes ?? 0) * 60_000).toISOString().slice(0, 19);
  const digits = frac === 0 ? '' : `.${String(frac).padStart(6, '0')}`.replace(/0+$/, '');
  if (offsetMinutes === null) return `${base}${digits}Z`;
  const sign = offsetMinutes < 0 ? '-' : '+';
  const a = Math.abs(offsetMinutes);
  return `${base}${digits}${sign}${two(Math.floor(a / 60))}:${two(a % 60)}`;
}

/** Unix times from 1970 up to the end of 9999 (an epoch in the wrong unit lands far outside). */
const MAX_EPOCH_MS = 253_402_300_799_999;

/**
 * A Unix time in a declared unit as an instant and its microseconds within the second: a JSON
 * number, or a string of digits (BigQuery writes INT64 as text). Null for anything else, a negative
 * time, or one past 9999.
 */
export function epochInstant(v: unknown, unit: 's' | 'ms' | 'us'): { ms: number; micros: number } | null {
  let text: string;
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) text = v.toFixed(unit === 'us' ? 0 : 6).replace(/\.?0+$/, '');
  else if (typeof v === 'string') text = v.trim();
  else return null;
  const m = /^(\d{1,20})(?:\.(\d{1,12}))?$/.exec(text);
  if (!m) return null;
  // Exact integer arithmetic on the digits: a count of microseconds has 16 digits, past a double's exact range.
  const scale = { s: 6, ms: 3, us: 0 }[unit];
  const micros = BigInt(m[1]! + (m[2] ?? '').padEnd(scale, '0').slice(0, scale));
  const ms = Number(micros / 1000n);
  if (ms > MAX_EPOCH_MS) return null;
  return { ms, micros: Number(micros % 1_000_000n) };
}
