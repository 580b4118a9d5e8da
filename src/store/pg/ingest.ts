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

/** A load window's rows not yet merged: buffered, then copied to the staging tables. */
export class PgWindow {
  private events: Row[] = [];
  private members: Row[] = [];
  private rejects: Row[] = [];
  private problems: Row[] = [];
  batchId = 0;
  recordsDone = 0;
  staged = false;

  constructor(private readonly db: PostgresDb) {
    db.exec(STAGING);
    db.exec('TRUNCATE stage_events, stage_members, stage_rejects, stage_problems');
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
    this.db.copyRows('stage_events', EVENT_COLUMNS, this.events);
    this.db.copyRows('stage_members', MEMBER_COLUMNS, this.members);
    this.db.copyRows('stage_rejects', ['line', 'raw', 'reason'], this.rejects);
    this.db.copyRows('stage_problems', ['line', 'field', 'value', 'reason'], this.problems);
    this.events = [];
    this.members = [];
    this.rejects = [];
    this.problems = [];
  }

  /** Merges what the window staged into the tables, with the batch's counts and resume point. */
  merge(createdAt: string): void {
    if (!this.staged) return;
    this.copy();
    const db = this.db;
    const b = this.batchId;
    // Events: the first row of each event_id in file order, in file order (seq follows the file).
    db.prepare(
      `WITH ins AS (
         INSERT INTO events (event_id, user_id, event_type, occurred_at, timezone, local_date, properties, content_hash, batch_id, line)
         SELECT event_id, user_id, event_type, occurred_at, timezone, local_date, properties, content_hash, CAST(? AS bigint), line
         FROM (SELECT DISTINCT ON (event_id) * FROM stage_events ORDER BY event_id, line) f ORDER BY line
         ON CONFLICT (event_id) DO NOTHING RETURNING line)
       UPDATE stage_events s SET inserted = true FROM ins WHERE s.line = ins.line`,
    ).run(b);
    const ev = db
      .prepare(
        `SELECT count(*) FILTER (WHERE s.inserted) AS inserted,
                count(*) FILTER (WHERE NOT s.inserted AND e.content_hash = s.content_hash) AS duplicates,
                count(*) FILTER (WHERE NOT s.inserted AND e.content_hash <> s.content_hash) AS conflicts
         FROM stage_events s LEFT JOIN events e ON e.event_id = s.event_id`,
      )
      .get() as { inserted: number; duplicates: number; conflicts: number };
    db.prepare(
      `INSERT INTO rejects (batch_id, line, raw, reason, created_at)
       SELECT CAST(@b AS bigint), line, raw, reason, @at FROM stage_rejects
       UNION ALL
       SELECT CAST(@b AS bigint), s.line, s.raw, 'line ' || s.line || ': conflicting duplicate of event_id ' || s.event_id, @at
       FROM stage_events s JOIN events e ON e.event_id = s.event_id WHERE NOT s.inserted AND e.content_hash <> s.content_hash
       ON CONFLICT (batch_id, line) DO NOTHING`,
    ).run({ b, at: createdAt });
    const mem = this.mergeMembers(createdAt);
    const parseRejects = db.prepare('SELECT count(*) FROM stage_rejects').pluck().get() as number;
    const problems = db
      .prepare(
        `INSERT INTO field_problems (batch_id, line, field, value, reason, created_at)
         SELECT CAST(? AS bigint), line, field, value, reason, ? FROM stage_problems ORDER BY line, field
         ON CONFLICT DO NOTHING`,
      )
      .run(b, createdAt).changes;
    db.prepare(
      `UPDATE batches SET records_done = greatest(records_done, @done), rows = greatest(rows, @done),
         inserted = inserted + @inserted, duplicates = duplicates + @duplicates, conflicts = conflicts + @conflicts,
         rejected = rejected + @rejected, field_problems = field_problems + @problems
       WHERE batch_id = @b`,
    ).run({
      b,
      done: this.recordsDone,
      inserted: ev.inserted + mem.inserted,
      duplicates: ev.duplicates + mem.duplicates,
      conflicts: ev.conflicts,
      rejected: parseRejects + ev.conflicts,
      problems,
    });
    db.exec('TRUNCATE stage_events, stage_members, stage_rejects, stage_problems');
    this.staged = false;
  }

  /**
   * A member row counts as inserted when it differs from what came before it (the row above in the
   * file, or the stored record), else as a duplicate: as SQLite's upsert row by row. The stored
   * record becomes the last such changed row, with its batch and line.
   */
  private mergeMembers(updatedAt: string): { inserted: number; duplicates: number } {
    const db = this.db;
    const differs = (a: string, b: string) => MEMBER_FIELDS.map((f) => `${a}.${f} IS DISTINCT FROM ${b}.${f}`).join(' OR ');
    const lagged = MEMBER_FIELDS.map((f) => `lag(s.${f}) OVER w AS prev_${f}`).join(', ');
    const prevDiffers = MEMBER_FIELDS.map((f) => `c.${f} IS DISTINCT FROM c.prev_${f}`).join(' OR ');
    db.exec(`DROP TABLE IF EXISTS stage_member_changes`);
    db.exec(
      `CREATE TEMP TABLE stage_member_changes AS
       SELECT c.*, CASE WHEN c.prev_line IS NULL THEN (c.had IS NULL OR c.stored_differs) ELSE (${prevDiffers}) END AS changed
       FROM (SELECT s.*, m.user_id AS had, (${differs('m', 's')}) AS stored_differs, lag(s.line) OVER w AS prev_line, ${lagged}
             FROM stage_members s LEFT JOIN members m ON m.user_id = s.user_id
             WINDOW w AS (PARTITION BY s.user_id ORDER BY s.line)) c`,
    );
    const counts = db
      .prepare('SELECT count(*) FILTER (WHERE changed) AS inserted, count(*) FILTER (WHERE NOT changed) AS duplicates FROM stage_member_changes')
      .get() as { inserted: number; duplicates: number };
    const set = [...MEMBER_FIELDS, 'batch_id', 'line', 'updated_at'].map((f) => `${f} = excluded.${f}`).join(', ');
    db.prepare(
      `INSERT INTO members (user_id, ${MEMBER_FIELDS.join(', ')}, batch_id, line, updated_at)
       SELECT user_id, ${MEMBER_FIELDS.join(', ')}, CAST(? AS bigint), line, ?
       FROM (SELECT DISTINCT ON (user_id) * FROM stage_member_changes WHERE changed ORDER BY user_id, line DESC) last
       ON CONFLICT (user_id) DO UPDATE SET ${set}`,
    ).run(this.batchId, updatedAt);
    db.exec('DROP TABLE stage_member_changes');
    return counts;
  }
}
