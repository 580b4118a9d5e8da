/**
 * Ingest on PostgreSQL: rows are streamed with COPY into TEMP staging tables, and each load window
 * is merged set-based at its commit (dedup, conflicts, member replacement, rejects, counts), instead
 * of the statement per row that suits SQLite. The outcome is the same as SQLite's row by row: the
 * first row of an event_id in file order is stored, a later one is a duplicate (same content) or a
 * conflict (rejected with the same reason); a member's later row replaces the earlier one.
 */
import { PG_COPY_ROWS } from '../../tuning.js';
import type { PostgresDb } from './connection.js';

const STAGING = `
  CREATE TEMP TABLE IF NOT EXISTS stage_events (
    event_id text COLLATE "C" NOT NULL, user_id text COLLATE "C" NOT NULL, event_type text COLLATE "C" NOT NULL,
    occurred_at text COLLATE "C" NOT NULL, timezone text COLLATE "C", local_date text COLLATE "C" NOT NULL,
    properties text COLLATE "C", content_hash text COLLATE "C" NOT NULL, line bigint NOT NULL, raw text COLLATE "C" NOT NULL,
    inserted boolean NOT NULL DEFAULT false);
  CREATE TEMP TABLE IF NOT EXISTS stage_members (
    user_id text COLLATE "C" NOT NULL, email text COLLATE "C", first_name text COLLATE "C", last_name text COLLATE "C",
    birth_date text COLLATE "C", zip text COLLATE "C", state text COLLATE "C", partner text COLLATE "C",
    share_consent integer NOT NULL, line bigint NOT NULL);
  CREATE TEMP TABLE IF NOT EXISTS stage_rejects (line bigint NOT NULL, raw text COLLATE "C" NOT NULL, reason text COLLATE "C" NOT NULL);
  CREATE TEMP TABLE IF NOT EXISTS stage_problems (
    line bigint NOT NULL, field text COLLATE "C" NOT NULL, value text COLLATE "C" NOT NULL, reason text COLLATE "C" NOT NULL);`;

const EVENT_COLUMNS = ['event_id', 'user_id', 'event_type', 'occurred_at', 'timezone', 'local_date', 'properties', 'content_hash', 'line', 'raw'];
const MEMBER_COLUMNS = ['user_id', 'email', 'first_name', 'last_name', 'birth_date', 'zip', 'state', 'partner', 'share_consent', 'line'];
const MEMBER_FIELDS = ['email', 'first_name', 'last_name', 'birth_date', 'zip', 'state', 'partner', 'share_consent'];

type Row = readonly unknown[];

/**
 * A load window on PostgreSQL: its rows are buffered, sent with COPY into the staging tables, and
 * merged at its commit by statements whose answers nothing waits for (the counts go straight into
 * the batch row): the main thread parses the next window while the server merges this one.
 */
export class PgWindow {
  private events: Row[] = [];
  private members: Row[] = [];
  private rejects: Row[] = [];
  private problems: Row[] = [];
  private batchId = 0;
  private recordsDone = 0;
  private staged = false;

  constructor(private readonly db: PostgresDb) {
    db.pipeline.exec(STAGING);
  }

  addEvents(batchId: number, events: Row[], rejects: Row[], recordsDone: number): void {
    this.note(batchId, recordsDone);
    for (const e of events) this.events.push(e);
    for (const r of rejects) this.rejects.push(r);
    if (this.events.length + this.rejects.length >= PG_COPY_ROWS) this.copy();
  }

  addMembers(batchId: number, members: Row[], rejects: Row[], problems: Row[], recordsDone: number): void {
    this.note(batchId, recordsDone);
    for (const m of members) this.members.push(m);
    for (const r of rejects) this.rejects.push(r);
    for (const p of problems) this.problems.push(p);
    if (this.members.length + this.rejects.length + this.problems.length >= PG_COPY_ROWS) this.copy();
  }

  private note(batchId: number, recordsDone: number): void {
    this.batchId = batchId;
    this.recordsDone = Math.max(this.recordsDone, recordsDone);
    this.staged = true;
  }

  private copy(): void {
    const p = this.db.pipeline;
    p.copy('stage_events', EVENT_COLUMNS, this.events);
    p.copy('stage_members', MEMBER_COLUMNS, this.members);
    p.copy('stage_rejects', ['line', 'raw', 'reason'], this.rejects);
    p.copy('stage_problems', ['line', 'field', 'value', 'reason'], this.problems);
    this.events = [];
    this.members = [];
    this.rejects = [];
    this.problems = [];
  }

  /** Merges what the window staged into the tables, with the batch's counts and resume point; then empties the staging tables. */
  merge(createdAt: string): void {
    if (!this.staged) return;
    this.copy();
    const p = this.db.pipeline;
    const params = { b: this.batchId, at: createdAt, done: this.recordsDone };
    // TEMP tables are never analyzed by autovacuum: without row counts the planner scans every event.
    p.exec('ANALYZE stage_events, stage_rejects');
    p.run(MERGE_EVENTS, params);
    p.run(MERGE_MEMBERS, params);
    p.exec('TRUNCATE stage_events, stage_members, stage_rejects, stage_problems');
    this.staged = false;
  }
}

/**
 * One statement: the window's rejected rows and resume point (members windows too); the events in
 * file order, numbered from the highest seq by their line (not from the identity's sequence, which
 * a rolled-back window would leave with a gap: a rerun after kill -9 numbers them as an
 * uninterrupted load does; a duplicate's number is skipped, the same way every time), the first row of an event_id stored (ON CONFLICT keeps
 * the earlier one, in this window or before it); the daily rollup of exactly the stored rows (from
 * RETURNING, not read again); later rows of a stored event_id told apart by content hash, the
 * conflicting ones rejected with SQLite's reason; the counts and resume point into the batch row.
 * In one statement the join with `events` sees the table as it was before it: a row first stored
 * in this window is found in `ins` instead.
 */
const MERGE_EVENTS = `
WITH ins AS (
  INSERT INTO events (seq, event_id, user_id, event_type, occurred_at, timezone, local_date, properties, content_hash, batch_id, line)
  SELECT (SELECT coalesce(max(seq), 0) FROM events) + row_number() OVER (ORDER BY line),
         event_id, user_id, event_type, occurred_at, timezone, local_date, properties, content_hash, CAST(@b AS bigint), line
  FROM stage_events ORDER BY line
  ON CONFLICT (event_id) DO NOTHING
  RETURNING event_id, user_id, event_type, local_date, content_hash, line),
roll AS (
  INSERT INTO daily_activity (user_id, event_type, local_date, events)
  SELECT user_id, event_type, local_date, count(*) FROM ins GROUP BY user_id, event_type, local_date
  ON CONFLICT (user_id, event_type, local_date) DO UPDATE SET events = daily_activity.events + excluded.events
  RETURNING 1),
rest AS (
  SELECT s.line, s.event_id, s.raw, s.content_hash, coalesce(i.content_hash, e.content_hash) AS stored
  FROM stage_events s
  LEFT JOIN ins mine ON mine.line = s.line
  LEFT JOIN ins i ON i.event_id = s.event_id
  -- A lookup per row left over (few: duplicates and conflicts), never a scan of every event.
  LEFT JOIN LATERAL (SELECT x.content_hash FROM events x WHERE x.event_id = s.event_id) e ON true
  WHERE mine.line IS NULL),
rej AS (
  INSERT INTO rejects (batch_id, line, raw, reason, created_at)
  SELECT CAST(@b AS bigint), line, raw, reason, @at FROM stage_rejects
  UNION ALL
  SELECT CAST(@b AS bigint), line, raw, 'line ' || line || ': conflicting duplicate of event_id ' || event_id, @at FROM rest WHERE stored <> content_hash
  ON CONFLICT (batch_id, line) DO NOTHING
  RETURNING 1)
UPDATE batches SET
  records_done = greatest(records_done, CAST(@done AS bigint)), rows = greatest(rows, CAST(@done AS bigint)),
  inserted = inserted + (SELECT count(*) FROM ins),
  duplicates = duplicates + (SELECT count(*) FROM rest WHERE stored = content_hash),
  conflicts = conflicts + (SELECT count(*) FROM rest WHERE stored <> content_hash),
  rejected = rejected + (SELECT count(*) FROM stage_rejects) + (SELECT count(*) FROM rest WHERE stored <> content_hash)
WHERE batch_id = @b`;

const differs = (a: string, b: string) => MEMBER_FIELDS.map((f) => `${a}.${f} IS DISTINCT FROM ${b}.${f}`).join(' OR ');

/**
 * One statement. A member row counts as inserted when it differs from what came before it (the row
 * above in the file, or the stored record), else as a duplicate: as SQLite's upsert row by row. The
 * stored record becomes the last such changed row, with its batch and line; invalid fields are
 * kept (field_problems). The window's rejected rows and resume point are MERGE_EVENTS's.
 */
const MERGE_MEMBERS = `
WITH c AS (
  SELECT x.*, CASE WHEN x.prev_line IS NULL THEN (x.had IS NULL OR x.stored_differs) ELSE (${MEMBER_FIELDS.map((f) => `x.${f} IS DISTINCT FROM x.prev_${f}`).join(' OR ')}) END AS changed
  FROM (SELECT s.*, m.user_id AS had, (${differs('m', 's')}) AS stored_differs, lag(s.line) OVER w AS prev_line,
               ${MEMBER_FIELDS.map((f) => `lag(s.${f}) OVER w AS prev_${f}`).join(', ')}
        FROM stage_members s LEFT JOIN members m ON m.user_id = s.user_id
        WINDOW w AS (PARTITION BY s.user_id ORDER BY s.line)) x),
up AS (
  INSERT INTO members (user_id, ${MEMBER_FIELDS.join(', ')}, batch_id, line, updated_at)
  SELECT user_id, ${MEMBER_FIELDS.join(', ')}, CAST(@b AS bigint), line, @at
  FROM (SELECT DISTINCT ON (user_id) * FROM c WHERE changed ORDER BY user_id, line DESC) last
  ON CONFLICT (user_id) DO UPDATE SET ${[...MEMBER_FIELDS, 'batch_id', 'line', 'updated_at'].map((f) => `${f} = excluded.${f}`).join(', ')}
  RETURNING 1),
fp AS (
  INSERT INTO field_problems (batch_id, line, field, value, reason, created_at)
  SELECT CAST(@b AS bigint), line, field, value, reason, @at FROM stage_problems
  ON CONFLICT DO NOTHING
  RETURNING 1)
UPDATE batches SET
  inserted = inserted + (SELECT count(*) FROM c WHERE changed),
  duplicates = duplicates + (SELECT count(*) FROM c WHERE NOT changed),
  field_problems = field_problems + (SELECT count(*) FROM fp)
WHERE batch_id = @b`;
