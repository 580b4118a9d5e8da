/** An event row: validation of each field, and the stored row (local date, canonical properties, ids). */
import { hash } from 'node:crypto';
import type { z } from 'zod';
import { canonicalTimeZone, localDate, type ParsedDateTime, parseDateTime } from '../time/datetime.js';
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

function checkOccurredAt(v: unknown): { text: string; dt: ParsedDateTime } | Problem {
  const t = checkRequiredText(v);
  if (t instanceof Problem) return t;
  const dt = parseDateTime(t);
  if (!dt) {
    return new Problem(`${shown(t)} is not a valid date-time (expected e.g. 2026-03-01T14:30:00Z, 2026-03-01T09:30:00-05:00 or 2026-03-01T09:30:00)`);
  }
  return { text: t, dt };
}

// Stored in ICU's spelling (america/new_york, US/Eastern -> America/New_York): one zone, one content hash.
function checkTimezone(v: unknown): string | null | Problem {
  const t = checkOptionalText(v);
  if (t === null || t instanceof Problem) return t;
  return canonicalTimeZone(t) ?? new Problem(`${shown(t)} is not a known IANA time zone (e.g. America/New_York)`);
}

/** One event row as read from an export, keyed by canonical field name. */
export const EventInput = rowSchema({
  // Optional: absent, empty or null (NDJSON) means "derive one".
  event_id: checkId,
  user_id: checkRequiredId,
  event_type: checkRequiredText,
  occurred_at: checkOccurredAt,
  timezone: checkTimezone,
  properties: checkProperties,
});

export type EventInput = z.output<typeof EventInput>;

function sha256hex(s: string): string {
  return hash('sha256', s, 'hex');
}

/** Turns a validated input into the stored row: local date, canonical properties, stable id and content hash. */
export function toEventRow(e: EventInput, line: number, raw: string, defaultZone: string): EventRow {
  const tz = e.timezone ?? null;
  const { dt, text } = e.occurred_at;
  const props = e.properties ? canonicalJson(e.properties) : null;
  // A time without offset is wall-clock time in its zone (or floating): the zone is part of its identity.
  const instant = dt.zone === 'none' ? `${dt.canonical}${tz ? '@' + tz : ''}` : dt.canonical;
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
