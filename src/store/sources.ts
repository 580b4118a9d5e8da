/**
 * Rollups of filtered sources (migration 008): what rules with a `where` read instead of raw events.
 * Each is stored up to a watermark on events.seq; whoever reads one rolls up the events past it in
 * a TEMP table of its connection and reads both (syncRollups).
 */
import type { Where } from '../config/schema.js';
import { type Db, postgres, stmt } from './db.js';
import { FOLD_SHARE } from '../tuning.js';


/** What the rules of a run count: events of one type, optionally filtered on top-level properties. */
export interface SourceSpec {
  eventType: string;
  where?: Where;
}

export function hasFilter(where: Where | undefined): where is Where {
  return where !== undefined && Object.keys(where).length > 0;
}

function sqlValue(v: string | number | boolean): string | number {
  // json_extract returns JSON true/false as 1/0.
  return typeof v === 'boolean' ? (v ? 1 : 0) : v;
}

/** [[json path, sorted distinct allowed values], ...] by key: one spelling per filter. */
function canonicalWhere(where: Where): [string, (string | number | boolean)[]][] {
  return Object.entries(where)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, allowed]) => {
      const values = [...new Map((Array.isArray(allowed) ? allowed : [allowed]).map((v) => [JSON.stringify(v), v])).entries()]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([, v]) => v);
      return [`$."${key.replace(/"/g, '\\"')}"`, values];
    });
}

export function sourceKey(src: SourceSpec & { where: Where }): string {
  return JSON.stringify([src.eventType, canonicalWhere(src.where)]);
}

/** How to read one source's counted (member, day) rows. */
export type RollupRead =
  | { kind: 'daily'; eventType: string }
  /**
   * The stored rollup of a source, plus, when `overlay` is set, the TEMP rows (under that key) of
   * the matching events past its watermark.
   */
  | { kind: 'source'; sourceId: number; overlay?: string }
  /** A source no run has built yet, rolled up in TEMP rows only (commands that write nothing). */
  | { kind: 'temp'; key: string };

/** The rollups a plan reads, by source. */
export class Rollups {
  private readonly reads = new Map<string, RollupRead>();

  set(key: string, read: RollupRead): void {
    this.reads.set(key, read);
  }

  of(src: SourceSpec): RollupRead {
    if (!hasFilter(src.where)) return { kind: 'daily', eventType: src.eventType };
    const read = this.reads.get(sourceKey({ eventType: src.eventType, where: src.where }));
    // A caller that reads a filtered source it did not sync would count stale or no rows: a bug.
    if (!read) throw new Error(`rollup of ${src.eventType} ${JSON.stringify(src.where)} was not synced`);
    return read;
  }
}

/**
 * The events of a source with seq in (@after, @upTo], grouped by (member, day) in key order. The
 * rowid range keeps a catch-up to the few new rows whatever indexes events has (NOT INDEXED: with an
 * index on event_type SQLite walks every event of the type); a first build reads the table once in
 * rowid order, measured no slower than through an (event_type, local_date) index, and needs none.
 */
function matchingEventsSql(db: Db, where: Where): { sql: string; params: (string | number)[] } {
  const conds = ['seq > @after', 'seq <= @upTo', 'event_type = @eventType'];
  const params: (string | number)[] = [];
  for (const [path, values] of canonicalWhere(where)) {
    if (postgres(db)) {
      // The property's JSON value against the allowed JSON values (a boolean matches only a boolean).
      conds.push(`CAST(properties AS jsonb) -> CAST(? AS text) IN (${values.map(() => 'CAST(? AS jsonb)').join(', ')})`);
      params.push(path.slice(3, -1).replace(/\\"/g, '"'), ...values.map((v) => JSON.stringify(v)));
      continue;
    }
    conds.push(`json_extract(properties, ?) IN (${values.map(() => '?').join(', ')})`);
    params.push(path, ...values.map(sqlValue));
  }
  return {
    sql: `SELECT user_id, local_date, count(*) AS events FROM events NOT INDEXED WHERE ${conds.join(' AND ')} GROUP BY user_id, local_date`,
    params,
  };
}

interface SourceRow {
  source_id: number;
  watermark: number;
}

function findSource(db: Db, key: string): SourceRow | undefined {
  return stmt(db, 'SELECT source_id, watermark FROM activity_sources WHERE source_key = ?').get(key) as SourceRow | undefined;
}

/*
 * Events past a source's watermark are folded into its stored rollup once they are more than
 * FOLD_SHARE of all events (tuning.ts); until then each run rolls them up in a TEMP table and reads
 * them beside the stored rows: a fold rewrites most of the rollup's pages however few events it adds.
 */

/**
 * Brings the rollup of every filtered source among `sources` up to `upTo` (the highest events.seq
 * of the caller's snapshot) and says how to read each.
 *
 * write: a source seen for the first time is built in the database, and its events past the
 * watermark are folded in when they are many (FOLD_SHARE). The caller must hold the writer lock
 * and call this inside the transaction it plans in, so the rollups and the run's watermark are one
 * snapshot. `foldShare` overrides FOLD_SHARE (tests: 0 folds every time, Infinity never after the
 * build).
 *
 * Otherwise nothing is written to the database: the events past a source's watermark (all of
 * them for a source no run has built yet) are rolled up into a TEMP table of this connection, and
 * reads add them to the stored rows. TEMP rather than a transaction rolled back afterwards: writing
 * to the main database would need its write lock, so a dry run, `explain` or `report` would wait
 * for (or fail beside) an ingest or run holding it, and could not run inside a read transaction;
 * a TEMP table is private to the connection, needs no lock and disappears with it.
 */
export function syncRollups(db: Db, sources: readonly SourceSpec[], upTo: number, o: { write: boolean; foldShare?: number }): Rollups {
  const rollups = new Rollups();
  for (const src of sources) {
    if (!hasFilter(src.where)) continue;
    const spec = { eventType: src.eventType, where: src.where };
    const key = sourceKey(spec);
    let row = findSource(db, key);
    if (o.write && !row) row = createSource(db, spec, key);
    const lag = upTo - (row?.watermark ?? 0);
    // A source never folded (watermark 0) is built now, whatever the share: every later run would
    // otherwise roll up all its events again.
    if (row && o.write && lag > 0 && (row.watermark === 0 || lag > upTo * (o.foldShare ?? FOLD_SHARE))) {
      fold(db, spec, row, upTo);
      row.watermark = upTo;
    }
    if (row && row.watermark >= upTo) {
      rollups.set(key, { kind: 'source', sourceId: row.source_id });
      continue;
    }
    const pending = overlay(db, spec, key, row?.watermark ?? 0, upTo);
    if (!row) rollups.set(key, { kind: 'temp', key });
    else rollups.set(key, pending ? { kind: 'source', sourceId: row.source_id, overlay: key } : { kind: 'source', sourceId: row.source_id });
  }
  return rollups;
}

function createSource(db: Db, src: SourceSpec & { where: Where }, key: string): SourceRow {
  const info = stmt(db, 'INSERT INTO activity_sources (source_key, event_type, where_json, watermark) VALUES (?, ?, ?, 0)').run(
    key,
    src.eventType,
    JSON.stringify(canonicalWhere(src.where)),
  );
  return { source_id: Number(info.lastInsertRowid), watermark: 0 };
}

function fold(db: Db, src: SourceSpec & { where: Where }, row: SourceRow, upTo: number): void {
  const q = matchingEventsSql(db, src.where);
  stmt(
    db,
    `INSERT INTO source_activity (source_id, user_id, local_date, events)
     SELECT CAST(@sourceId AS INTEGER), user_id, local_date, events FROM (${q.sql}) m WHERE true
     ON CONFLICT (source_id, user_id, local_date) DO UPDATE SET events = source_activity.events + excluded.events`,
  ).run(...q.params, { sourceId: row.source_id, after: row.watermark, upTo, eventType: src.eventType });
  stmt(db, 'UPDATE activity_sources SET watermark = ? WHERE source_id = ?').run(upTo, row.source_id);
  // A first build fills the table at once: the planner's counts with it (see finishBatch).
  if (row.watermark === 0) postgres(db)?.exec('ANALYZE source_activity');
}

/** Rolls up the matching events in (after, upTo] under `key` in TEMP; false when there are none. */
function overlay(db: Db, src: SourceSpec & { where: Where }, key: string, after: number, upTo: number): boolean {
  db.exec(`CREATE TEMP TABLE IF NOT EXISTS source_overlay (
    source_key TEXT NOT NULL, user_id TEXT NOT NULL, local_date TEXT NOT NULL, events INTEGER NOT NULL,
    PRIMARY KEY (source_key, user_id, local_date)) WITHOUT ROWID`);
  // Rebuilt for each sync: an overlay left from an earlier snapshot would count events twice once
  // a run has folded them into the stored rollup.
  stmt(db, 'DELETE FROM temp.source_overlay WHERE source_key = ?').run(key);
  const q = matchingEventsSql(db, src.where);
  const added = stmt(db, `INSERT INTO temp.source_overlay (source_key, user_id, local_date, events) SELECT CAST(@key AS TEXT), user_id, local_date, events FROM (${q.sql}) m`).run(
    ...q.params,
    { key, after, upTo, eventType: src.eventType },
  ).changes;
  // TEMP tables are never analyzed by autovacuum: without counts PostgreSQL's reads of it go astray.
  if (added > 0) postgres(db)?.exec('ANALYZE pg_temp.source_overlay');
  return added > 0;
}
