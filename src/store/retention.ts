/** All SQL of retention (prune). */
import { type Db, nowIso, stmt } from './db.js';

export interface PruneCounts {
  events: number;
  rejects: number;
}

/**
 * The most recently stored event is never deleted. `events.seq` is SQLite's rowid (max + 1 for a new
 * row): deleting the highest one would let the next ingest reuse its seq, at or below the watermarks
 * runs have recorded, and incremental runs would never see that event. One old event kept until a
 * newer one arrives is the price.
 */
const NOT_LAST = 'seq < (SELECT max(seq) FROM events)';

/** What a prune would delete: events dated before `eventsBefore`, rejects recorded before `rejectsBefore`. */
export function countPrunable(db: Db, eventsBefore: string | null, rejectsBefore: string | null): PruneCounts {
  return {
    events: eventsBefore ? (stmt(db, `SELECT count(*) FROM events WHERE local_date < ? AND ${NOT_LAST}`).pluck().get(eventsBefore) as number) : 0,
    rejects: rejectsBefore ? (stmt(db, 'SELECT count(*) FROM rejects WHERE created_at < ?').pluck().get(rejectsBefore) as number) : 0,
  };
}

/**
 * Deletes raw events and rejected rows past retention, in one transaction, and records the prune.
 * The daily rollup, grants, runs and batches are kept: reports and `explain` still need them.
 */
export function prune(db: Db, eventsBefore: string | null, rejectsBefore: string | null): PruneCounts {
  return db.transaction(() => {
    const events = eventsBefore ? stmt(db, `DELETE FROM events WHERE local_date < ? AND ${NOT_LAST}`).run(eventsBefore).changes : 0;
    const rejects = rejectsBefore ? stmt(db, 'DELETE FROM rejects WHERE created_at < ?').run(rejectsBefore).changes : 0;
    if (events + rejects === 0) return { events, rejects };
    stmt(db, 'INSERT INTO prunes (pruned_at, events_before, events_deleted, rejects_before, rejects_deleted) VALUES (?, ?, ?, ?, ?)').run(
      nowIso(),
      eventsBefore,
      events,
      rejectsBefore,
      rejects,
    );
    return { events, rejects };
  }).immediate();
}

/** Events dated before this were pruned: ingesting them again would count them twice in the rollup. */
export function prunedBefore(db: Db): string | null {
  return (stmt(db, 'SELECT max(events_before) FROM prunes WHERE events_deleted > 0').pluck().get() as string | null) ?? null;
}

export function lastPrune(db: Db): { pruned_at: string; events_deleted: number; rejects_deleted: number } | undefined {
  return stmt(db, 'SELECT pruned_at, events_deleted, rejects_deleted FROM prunes ORDER BY prune_id DESC LIMIT 1').get() as
    | { pruned_at: string; events_deleted: number; rejects_deleted: number }
    | undefined;
}
