/** All SQL of ingest: batches, events, members, rejects and field problems, load windows and the daily rollup. */
import { type Db, nowIso, postgres, stmt } from './db.js';
import { LOAD_CACHE_KIB, PG_ANALYZE_ROWS, ROLLUP_CACHE_KIB } from '../tuning.js';
import { PgWindow } from './pg/ingest.js';

export type BatchKind = 'events' | 'members';
export type BatchStatus = 'pending' | 'complete' | 'failed';

export interface BatchRow {
  batch_id: number;
  kind: BatchKind;
  path: string;
  name: string;
  sha256: string;
  size_bytes: number;
  format: string;
  status: BatchStatus;
  rows: number;
  inserted: number;
  duplicates: number;
  conflicts: number;
  rejected: number;
  /** Member fields stored empty because they were invalid (migration 011). */
  field_problems: number;
  extra_columns: number;
  records_done: number;
  error: string | null;
  started_at: string;
  finished_at: string | null;
}

/** One validated event, ready to store. */
export interface EventRow {
  event_id: string;
  user_id: string;
  event_type: string;
  occurred_at: string;
  timezone: string | null;
  local_date: string;
  properties: string | null;
  content_hash: string;
  line: number;
  /** The record as written; kept only to store it if the row turns out to conflict. */
  raw: string;
}

export interface MemberRow {
  user_id: string;
  email: string | null;
  first_name: string | null;
  last_name: string | null;
  birth_date: string | null;
  zip: string | null;
  state: string | null;
  partner: string | null;
  share_consent: 0 | 1;
  line: number;
}

export interface RejectRow {
  line: number;
  raw: string;
  reason: string;
}

/** An invalid optional member field, stored empty (migration 011). */
export interface FieldProblemRow {
  line: number;
  field: string;
  value: string;
  reason: string;
}

export interface ChunkCounts {
  inserted: number;
  duplicates: number;
  conflicts: number;
  rejected: number;
  field_problems: number;
}

/**
 * The load's page cache (tuning.ts) while a file loads, restored afterwards (the nightly goes on to
 * the run and exports on the same connection).
 */
export function useLoadCache(db: Db): () => void {
  const before = db.pragma('cache_size', { simple: true }) as number;
  db.pragma(`cache_size = -${LOAD_CACHE_KIB}`);
  return () => db.pragma(`cache_size = ${before}`);
}

/**
 * An open load transaction: the rows it inserts are those with `seq` above `afterSeq`. On
 * PostgreSQL, `pg` holds the rows staged for the merge at its commit (pg/ingest.ts).
 */
export interface BulkWindow {
  afterSeq: number;
  pg?: PgWindow;
}

/**
 * Opens a load's transaction. Chunks are stored inside it (see commitEventChunk) and it is
 * committed every so many records (see ingest-files.ts), with the rollup of its rows.
 */
export function beginBulk(db: Db): BulkWindow {
  const pg = postgres(db);
  if (pg) {
    // Sent without waiting: the window's merge rolls up what it stores itself (pg/ingest.ts).
    pg.pipeline.begin();
    return { afterSeq: 0, pg: new PgWindow(pg) };
  }
  db.exec('BEGIN IMMEDIATE');
  return { afterSeq: (stmt(db, 'SELECT coalesce(max(seq), 0) FROM events').pluck().get() as number) ?? 0 };
}

/**
 * Adds the window's new events to the daily rollup, then commits: rows and rollup in one
 * transaction. One set-based statement per window, sorted by the rollup's key, instead of an upsert
 * per row in the order rows arrive: SQLite walks the rollup's B-tree once per window, which made it
 * the cheaper half of a load instead of the dearer (see `npm run bench`).
 */
export function commitBulk(db: Db, window: BulkWindow, o: { last?: boolean } = {}): void {
  if (!db.inTransaction) return;
  const pg = postgres(db);
  if (pg && window.pg) {
    window.pg.merge(nowIso());
    pg.pipeline.commit();
    // The last window is waited for: its errors belong to this load, and what follows reads its rows.
    if (o.last) pg.pipeline.settle();
    return;
  }
  // SQLite's sorter may hold as much as the page cache before it spills: a small cache while the
  // rollup sorts keeps the sort off the peak (tuning.ts).
  const cache = db.pragma('cache_size', { simple: true }) as number;
  db.pragma(`cache_size = -${ROLLUP_CACHE_KIB}`);
  try {
    stmt(
      db,
      `INSERT INTO daily_activity (user_id, event_type, local_date, events)
       SELECT user_id, event_type, local_date, count(*) FROM events WHERE seq > ?
       GROUP BY user_id, event_type, local_date ORDER BY user_id, event_type, local_date
       ON CONFLICT (user_id, event_type, local_date) DO UPDATE SET events = daily_activity.events + excluded.events`,
    ).run(window.afterSeq);
  } finally {
    db.pragma(`cache_size = ${cache}`);
  }
  db.exec('COMMIT');
}

export function rollbackBulk(db: Db): void {
  if (db.inTransaction) db.exec('ROLLBACK');
}

export function findCompleteBatch(db: Db, sha256: string, kind: BatchKind): BatchRow | undefined {
  return stmt(db, `SELECT * FROM batches WHERE sha256 = ? AND kind = ? AND status = 'complete' ORDER BY batch_id DESC LIMIT 1`).get(
    sha256,
    kind,
  ) as BatchRow | undefined;
}

/**
 * The unfinished batch of the same file, if a previous run was interrupted or failed: resume it.
 * Only when read in the same format: its resume point counts records of that format.
 */
export function findResumableBatch(db: Db, sha256: string, kind: BatchKind, format: string): BatchRow | undefined {
  return stmt(
    db,
    `SELECT * FROM batches WHERE sha256 = ? AND kind = ? AND format = ? AND status <> 'complete' ORDER BY batch_id DESC LIMIT 1`,
  ).get(sha256, kind, format) as BatchRow | undefined;
}

export function createBatch(
  db: Db,
  b: { kind: BatchKind; path: string; name: string; sha256: string; size_bytes: number; format: string },
): BatchRow {
  const info = stmt(
    db,
    `INSERT INTO batches (kind, path, name, sha256, size_bytes, format, status, started_at)
     VALUES (@kind, @path, @name, @sha256, @size_bytes, @format, 'pending', @started_at)`,
  ).run({ ...b, started_at: nowIso() });
  return getBatch(db, Number(info.lastInsertRowid))!;
}

export function reopenBatch(db: Db, batchId: number, path: string): void {
  stmt(db, `UPDATE batches SET status = 'pending', error = NULL, path = ?, started_at = ? WHERE batch_id = ?`).run(path, nowIso(), batchId);
}

/** Where a batch's file is now (the nightly moved it into the archive). */
export function setBatchPath(db: Db, batchId: number, path: string): void {
  stmt(db, 'UPDATE batches SET path = ? WHERE batch_id = ?').run(path, batchId);
}

export function getBatch(db: Db, batchId: number): BatchRow | undefined {
  return stmt(db, 'SELECT * FROM batches WHERE batch_id = ?').get(batchId) as BatchRow | undefined;
}

export function finishBatch(db: Db, batchId: number, status: 'complete' | 'failed', error: string | null, extraColumns: number): void {
  stmt(db, 'UPDATE batches SET status = ?, error = ?, extra_columns = ?, finished_at = ? WHERE batch_id = ?').run(
    status,
    error,
    extraColumns,
    nowIso(),
    batchId,
  );
  const pg = postgres(db);
  if (pg) {
    // The planner's row counts, refreshed after a large load: autovacuum gets to it later, and a run
    // planned on the counts of an empty table before then reads the rollup member by member for minutes.
    const b = getBatch(db, batchId)!;
    if (b.inserted >= PG_ANALYZE_ROWS) pg.exec(b.kind === 'events' ? 'ANALYZE events, daily_activity' : 'ANALYZE members');
  }
}

function insertRejects(db: Db, batchId: number, rejects: RejectRow[], createdAt: string): void {
  const ins = stmt(db, 'INSERT OR IGNORE INTO rejects (batch_id, line, raw, reason, created_at) VALUES (?, ?, ?, ?, ?)');
  for (const r of rejects) ins.run(batchId, r.line, r.raw, r.reason, createdAt);
}

function advanceBatch(db: Db, batchId: number, recordsDone: number, c: ChunkCounts): void {
  stmt(
    db,
    // max(): a resumed file that fails before reaching its resume point must not move it back.
    `UPDATE batches SET records_done = max(records_done, @recordsDone), rows = max(rows, @recordsDone),
       inserted = inserted + @inserted, duplicates = duplicates + @duplicates,
       conflicts = conflicts + @conflicts, rejected = rejected + @rejected, field_problems = field_problems + @field_problems
     WHERE batch_id = @batchId`,
  ).run({ batchId, recordsDone, ...c });
}

function insertFieldProblems(db: Db, batchId: number, problems: FieldProblemRow[], createdAt: string): number {
  const ins = stmt(db, 'INSERT OR IGNORE INTO field_problems (batch_id, line, field, value, reason, created_at) VALUES (?, ?, ?, ?, ?, ?)');
  let n = 0;
  for (const p of problems) n += ins.run(batchId, p.line, p.field, p.value, p.reason, createdAt).changes;
  return n;
}

/**
 * Chunks are stored inside the load's open transaction (beginBulk), never in a nested one: nested,
 * db.transaction() is a SAVEPOINT, and SQLite then copies every page a savepoint first touches into
 * a statement journal (a temp file): at 1M events that was about 5 GB of extra writes. The load's
 * transaction already makes each window atomic, and a failure rolls it back.
 */
function inLoad(db: Db): void {
  if (!db.inTransaction) throw new Error('chunks are stored inside beginBulk() ... commitBulk()');
}

/**
 * Stores one chunk of a file in the load's transaction: the events, the rejected rows, and the
 * batch's resume point (the rollup follows at commitBulk). A crash loses the whole window or none
 * of it, so resuming from `records_done` neither loses nor doubles a row.
 */
export function commitEventChunk(
  db: Db,
  window: BulkWindow,
  batchId: number,
  events: EventRow[],
  rejects: RejectRow[],
  recordsDone: number,
): ChunkCounts {
  const counts: ChunkCounts = { inserted: 0, duplicates: 0, conflicts: 0, rejected: rejects.length, field_problems: 0 };
  const createdAt = nowIso();
  inLoad(db);
  if (window.pg) {
    // Counted when the window merges (pg/ingest.ts): the batch row has them at its commit.
    const rows = events.map((e) => [e.event_id, e.user_id, e.event_type, e.occurred_at, e.timezone, e.local_date, e.properties, e.content_hash, e.line, e.raw]);
    window.pg.addEvents(batchId, rows, rejects.map((r) => [r.line, r.raw, r.reason]), recordsDone);
    return counts;
  }
  {
    const ins = stmt(
      db,
      `INSERT INTO events (event_id, user_id, event_type, occurred_at, timezone, local_date, properties, content_hash, batch_id, line)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING`,
    );
    const existing = stmt(db, 'SELECT content_hash FROM events WHERE event_id = ?').pluck();
    const conflicts: RejectRow[] = [];
    for (const e of events) {
      const r = ins.run(e.event_id, e.user_id, e.event_type, e.occurred_at, e.timezone, e.local_date, e.properties, e.content_hash, batchId, e.line);
      if (r.changes === 1) {
        counts.inserted++;
      } else if (existing.get(e.event_id) === e.content_hash) {
        counts.duplicates++;
      } else {
        counts.conflicts++;
        conflicts.push({ line: e.line, raw: e.raw, reason: `line ${e.line}: conflicting duplicate of event_id ${e.event_id}` });
      }
    }
    counts.rejected += conflicts.length;
    insertRejects(db, batchId, rejects.concat(conflicts), createdAt);
    advanceBatch(db, batchId, recordsDone, counts);
  }
  return counts;
}

/** Members: a later row for the same member replaces the earlier one. */
export function commitMemberChunk(
  db: Db,
  window: BulkWindow,
  batchId: number,
  members: MemberRow[],
  rejects: RejectRow[],
  problems: FieldProblemRow[],
  recordsDone: number,
): ChunkCounts {
  const counts: ChunkCounts = { inserted: 0, duplicates: 0, conflicts: 0, rejected: rejects.length, field_problems: 0 };
  const updatedAt = nowIso();
  inLoad(db);
  if (window.pg) {
    const rows = members.map((m) => [m.user_id, m.email, m.first_name, m.last_name, m.birth_date, m.zip, m.state, m.partner, m.share_consent, m.line]);
    window.pg.addMembers(batchId, rows, rejects.map((r) => [r.line, r.raw, r.reason]), problems.map((p) => [p.line, p.field, p.value, p.reason]), recordsDone);
    return counts;
  }
  {
    const up = stmt(
      db,
      `INSERT INTO members (user_id, email, first_name, last_name, birth_date, zip, state, partner, share_consent, batch_id, line, updated_at)
       VALUES (@user_id, @email, @first_name, @last_name, @birth_date, @zip, @state, @partner, @share_consent, @batch_id, @line, @updated_at)
       ON CONFLICT (user_id) DO UPDATE SET email = excluded.email, first_name = excluded.first_name, last_name = excluded.last_name,
         birth_date = excluded.birth_date, zip = excluded.zip, state = excluded.state, partner = excluded.partner,
         share_consent = excluded.share_consent, batch_id = excluded.batch_id, line = excluded.line, updated_at = excluded.updated_at
       WHERE members.email IS NOT excluded.email OR members.first_name IS NOT excluded.first_name
         OR members.last_name IS NOT excluded.last_name OR members.birth_date IS NOT excluded.birth_date
         OR members.zip IS NOT excluded.zip OR members.state IS NOT excluded.state OR members.partner IS NOT excluded.partner
         OR members.share_consent IS NOT excluded.share_consent`,
    );
    for (const m of members) {
      const r = up.run({ ...m, batch_id: batchId, updated_at: updatedAt });
      if (r.changes === 1) counts.inserted++;
      else counts.duplicates++;
    }
    insertRejects(db, batchId, rejects, updatedAt);
    counts.field_problems = insertFieldProblems(db, batchId, problems, updatedAt);
    advanceBatch(db, batchId, recordsDone, counts);
  }
  return counts;
}

export interface RejectListRow {
  batch_id: number;
  file: string;
  line: number;
  /** `row`: the record was rejected; `field`: one field was stored empty (`field` names it, `raw` is its value). */
  kind: 'row' | 'field';
  field: string;
  reason: string;
  raw: string;
  created_at: string;
}

/** Rejected rows and member field problems, in file order. */
export function listRejects(db: Db, batchId?: number): IterableIterator<RejectListRow> {
  const where = batchId === undefined ? '' : 'WHERE x.batch_id = @batchId';
  const sql = `SELECT x.batch_id, b.path AS file, x.line, x.kind, x.field, x.reason, x.raw, x.created_at FROM (
                 SELECT batch_id, line, 'row' AS kind, '' AS field, reason, raw, created_at FROM rejects
                 UNION ALL
                 SELECT batch_id, line, 'field', field, reason, value, created_at FROM field_problems
               ) x JOIN batches b USING (batch_id)
               ${where} ORDER BY x.batch_id, x.line, x.kind DESC, x.field`;
  const s = stmt(db, sql);
  return (batchId === undefined ? s.iterate() : s.iterate({ batchId })) as IterableIterator<RejectListRow>;
}
