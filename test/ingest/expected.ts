/** What the fixtures in fixtures/ingest/ must load as (shared by the CLI ingest tests). */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { PROJECT_ROOT, sqlite } from '../helpers.js';

export const FIXTURES = join(PROJECT_ROOT, 'fixtures', 'ingest');
export const fixture = (name: string) => join(FIXTURES, name);

export function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

export interface StoredEvent {
  event_id: string;
  user_id: string;
  event_type: string;
  occurred_at: string;
  timezone: string | null;
  local_date: string;
  properties: string | null;
}

/** The five events of events.csv / .tsv / .ndjson, ordered by event_id (the derived id starts with h-). */
export const FIXTURE_EVENTS: (Omit<StoredEvent, 'event_id'> & { event_id: unknown })[] = [
  {
    event_id: 'e1',
    user_id: 'u1',
    event_type: 'steps',
    occurred_at: '2026-03-01T10:00:00Z',
    timezone: null,
    local_date: '2026-03-01',
    properties: '{"device":"phone","steps":8000}',
  },
  {
    // 03:00Z is 22:00 the evening before in New York
    event_id: 'e2',
    user_id: 'u1',
    event_type: 'steps',
    occurred_at: '2026-03-02T03:00:00Z',
    timezone: 'America/New_York',
    local_date: '2026-03-01',
    properties: '{"steps":500}',
  },
  {
    // an offset: the date as written, though it is 04:30Z on the 2nd
    event_id: 'e3',
    user_id: 'u2',
    event_type: 'workout',
    occurred_at: '2026-03-01T23:30:00-05:00',
    timezone: null,
    local_date: '2026-03-01',
    properties: '{"minutes":30,"note":"evening run, 5k"}',
  },
  {
    // DST day in New York: 06:30Z is 01:30 EST
    event_id: 'e5',
    user_id: 'u3',
    event_type: 'meal',
    occurred_at: '2026-03-08T06:30:00Z',
    timezone: 'America/New_York',
    local_date: '2026-03-08',
    properties: '{"note":"two\\nlines"}',
  },
  {
    // no event_id: derived; no offset: the date as written
    event_id: expect.stringMatching(/^h-[0-9a-f]{32}$/),
    user_id: 'u2',
    event_type: 'sleep',
    occurred_at: '2026-03-01T22:00:00',
    timezone: null,
    local_date: '2026-03-01',
    properties: null,
  },
];

export const FIXTURE_DAILY = [
  { user_id: 'u1', event_type: 'steps', local_date: '2026-03-01', events: 2 },
  { user_id: 'u2', event_type: 'sleep', local_date: '2026-03-01', events: 1 },
  { user_id: 'u2', event_type: 'workout', local_date: '2026-03-01', events: 1 },
  { user_id: 'u3', event_type: 'meal', local_date: '2026-03-08', events: 1 },
];

export function storedEvents(db: string): StoredEvent[] {
  return sqlite<StoredEvent>(
    db,
    'SELECT event_id, user_id, event_type, occurred_at, timezone, local_date, properties FROM events ORDER BY event_id',
  );
}

export function dailyActivity(db: string) {
  return sqlite(db, 'SELECT user_id, event_type, local_date, events FROM daily_activity ORDER BY user_id, event_type, local_date');
}

// The batches table's row, as the store defines it.
export type { BatchRow } from '../../src/store/ingest.js';
import type { BatchRow } from '../../src/store/ingest.js';

export function batches(db: string): BatchRow[] {
  return sqlite<BatchRow>(db, 'SELECT * FROM batches ORDER BY batch_id');
}

export interface JsonFile {
  path: string;
  sha256: string | null;
  status: 'ingested' | 'skipped' | 'failed';
  rows: number;
  inserted: number;
  duplicates: number;
  conflicts: number;
  rejected: number;
  field_problems: number;
  error: string | null;
  batch_id?: number | null;
  extra_columns?: string[];
}

export interface JsonReport {
  files: JsonFile[];
  totals: { rows: number; inserted: number; duplicates: number; conflicts: number; rejected: number; field_problems: number };
}

/** Everything an analyst could see, for before/after comparisons (created_at/started_at left out). */
export function snapshot(db: string) {
  return {
    events: sqlite(db, 'SELECT * FROM events ORDER BY seq'),
    daily: sqlite(db, 'SELECT * FROM daily_activity ORDER BY user_id, event_type, local_date'),
    members: sqlite(db, 'SELECT user_id, email, first_name, last_name, birth_date, zip, state, partner, share_consent, batch_id, line FROM members ORDER BY user_id'),
    rejects: sqlite(db, 'SELECT batch_id, line, raw, reason FROM rejects ORDER BY batch_id, line'),
    batches: sqlite(
      db,
      'SELECT batch_id, kind, path, name, sha256, size_bytes, format, status, rows, inserted, duplicates, conflicts, rejected, extra_columns, records_done, error FROM batches ORDER BY batch_id',
    ),
  };
}
