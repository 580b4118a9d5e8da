/** An event row: validation of each field, and the stored row (local date, canonical properties, ids). */
import { hash } from 'node:crypto';
import type { z } from 'zod';
import { canonicalTimeZone, epochInstant, instantOfWallTime, isoAtOffset, localDate, type ParsedDateTime, parseDateTime } from '../time/datetime.js';
import type { EventRow } from '../store/ingest.js';
import { canonicalJson, checkId, checkOptionalText, checkRequiredId, checkRequiredText, Problem, rowSchema, shown } from './fields.js';

function checkProperties(v: unknown): Record<string, unknown> | null | Problem {
  if (v === undefined || v === null || v === '') return null;
  let obj: unknown = v;
  if (typeof v === 'string') {
    try {
      obj = JSON.parse(v);
    } catch {
      return new Problem(`${shown(v)} is not valid JSON; expected a JSON object`);
    }
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
    return new Problem(`expected a JSON object, got ${Array.isArray(obj) ? 'an array' : shown(obj)}`);
  }
  return obj as Record<string, unknown>;
}

/** How a source writes occurred_at (config/sources.ts): declared, never guessed from the value. */
export interface TimeSpec {
  unit: 'iso' | 's' | 'ms' | 'us';
  /** The zone of date-times written without an offset; null: wall-clock time in the event's zone. */
  naiveZone: string | null;
}

/** The microseconds within the second of an ISO date-time's text (its fraction, to six digits). */
function microsOf(text: string): number {
  const frac = /[.,](\d{1,9})/.exec(text)?.[1];
  return frac ? Number(frac.padEnd(6, '0').slice(0, 6)) : 0;
}

const UNIT_NAMES = { s: 'seconds', ms: 'milliseconds', us: 'microseconds' } as const;

function checkOccurredAt(v: unknown, time: TimeSpec): { text: string; dt: ParsedDateTime } | Problem {
  if (time.unit !== 'iso') {
    if (v === undefined || v === null || v === '') return new Problem('is required');
    const e = epochInstant(v, time.unit);
    if (!e) return new Problem(`${shown(v)} is not a Unix time in ${UNIT_NAMES[time.unit]} (the source declares time_unit ${time.unit})`);
    // A Unix time shifted to a zone's wall clock (Mixpanel projects created before 2023 export their project zone's): declared by naive_zone.
    const text = isoAtOffset(time.naiveZone ? instantOfWallTime(e.ms, time.naiveZone) : e.ms, null, e.micros);
    return { text, dt: parseDateTime(text)! };
  }
  const t = checkRequiredText(typeof v === 'number' ? String(v) : v);
  if (t instanceof Problem) return t;
  const dt = parseDateTime(t);
  if (!dt) {
    const epoch = /^\d{9,}(\.\d+)?$/.test(t) ? '; it looks like a Unix time: declare its unit with a source (time_unit s, ms or us)' : '';
    return new Problem(`${shown(t)} is not a valid date-time (expected e.g. 2026-03-01T14:30:00Z, 2026-03-01T09:30:00-05:00 or 2026-03-01T09:30:00)${epoch}`);
  }
  if (dt.zone === 'none' && time.naiveZone) {
    // Declared by the source (Amplitude: UTC): the instant is known, and stored as such.
    const text = isoAtOffset(instantOfWallTime(dt.ms, time.naiveZone), null, microsOf(t));
    return { text, dt: parseDateTime(text)! };
  }
  return { text: t, dt };
}

/** An offset from UTC in whole seconds (GA4's device.time_zone_offset_seconds), as a number or digits. */
function checkOffset(v: unknown): number | null | Problem {
  if (v === undefined || v === null || v === '') return null;
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^[+-]?\d+$/.test(v.trim()) ? Number(v) : NaN;
  if (!Number.isInteger(n) || Math.abs(n) > 18 * 3600 || n % 60 !== 0) return new Problem(`${shown(v)} is not an offset from UTC in seconds (a whole number of minutes, at most 18 hours)`);
  return n;
}

// Stored in ICU's spelling (america/new_york, US/Eastern -> America/New_York): one zone, one content hash.
function checkTimezone(v: unknown): string | null | Problem {
  const t = checkOptionalText(v);
  if (t === null || t instanceof Problem) return t;
  return canonicalTimeZone(t) ?? new Problem(`${shown(t)} is not a known IANA time zone (e.g. America/New_York)`);
}

function eventInputFor(time: TimeSpec) {
  return rowSchema({
    // Optional: absent, empty or null (NDJSON) means "derive one".
    event_id: checkId,
    user_id: checkRequiredId,
    event_type: checkRequiredText,
    occurred_at: (v: unknown) => checkOccurredAt(v, time),
    timezone: checkTimezone,
    utc_offset: checkOffset,
    properties: checkProperties,
  });
}

/** One event row as read from an export, keyed by canonical field name, with ISO 8601 times. */
export const EventInput = eventInputFor({ unit: 'iso', naiveZone: null });
export type EventInput = z.output<typeof EventInput>;

/** The event row schema for a source's way of writing times. */
export function eventInput(time: TimeSpec): typeof EventInput {
  return time.unit === 'iso' && time.naiveZone === null ? EventInput : eventInputFor(time);
}

function sha256hex(s: string): string {
  return hash('sha256', s, 'hex');
}

/** Turns a validated input into the stored row: local date, canonical properties, stable id and content hash. */
export function toEventRow(e: EventInput, line: number, raw: string, defaultZone: string): EventRow {
  const tz = e.timezone ?? null;
  let { dt, text } = e.occurred_at;
  const props = e.properties ? canonicalJson(e.properties) : null;
  // A time without offset is wall-clock time in its zone (or floating): the zone is part of its identity.
  let instant = dt.zone === 'none' ? `${dt.canonical}${tz ? '@' + tz : ''}` : dt.canonical;
  if (e.utc_offset !== null) {
    // The record's own offset (GA4's device): the time is stored at it, so its date as written is the local date.
    const minutes = e.utc_offset / 60;
    const ms = dt.zone === 'none' ? dt.ms - minutes * 60_000 : dt.ms;
    text = isoAtOffset(ms, minutes, microsOf(text));
    dt = parseDateTime(text)!;
    instant = `${dt.canonical}@${minutes}`;
  }
  const event_id = e.event_id || 'h-' + sha256hex(JSON.stringify([e.user_id, e.event_type, instant, props])).slice(0, 32);
  return {
    event_id,
    user_id: e.user_id,
    event_type: e.event_type,
    occurred_at: text,
    timezone: tz,
    local_date: localDate(dt, tz, defaultZone),
    properties: props,
    content_hash: sha256hex(JSON.stringify([e.user_id, e.event_type, instant, tz, props])).slice(0, 32),
    line,
    raw,
  };
}
