/** All SQL of `rewards status`. */
import { statSync } from 'node:fs';
import { type Db, postgres, stmt } from './db.js';

export const COUNTED_TABLES = ['events', 'daily_activity', 'members', 'batches', 'rejects', 'runs', 'grants', 'exports', 'releases', 'deliveries', 'nightly_runs'] as const;

export function tableCounts(db: Db): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of COUNTED_TABLES) out[t] = stmt(db, `SELECT count(*) FROM ${t}`).pluck().get() as number;
  return out;
}

export function databaseBytes(db: Db, path: string): number {
  if (postgres(db)) return stmt(db, 'SELECT pg_database_size(current_database())').pluck().get() as number;
  let n = 0;
  for (const suffix of ['', '-wal']) {
    try {
      n += statSync(path + suffix).size;
    } catch {
      // no WAL file: nothing to add
    }
  }
  return n;
}

export function unfinishedBatches(db: Db) {
  return stmt(db, `SELECT batch_id, kind, path, status, rows, error, started_at FROM batches WHERE status <> 'complete' ORDER BY batch_id`).all() as {
    batch_id: number;
    kind: string;
    path: string;
    status: string;
    rows: number;
    error: string | null;
    started_at: string;
  }[];
}

export function lastBatch(db: Db) {
  return stmt(db, 'SELECT batch_id, kind, path, status, rows, inserted, rejected, started_at, finished_at FROM batches ORDER BY batch_id DESC LIMIT 1').get() as
    | Record<string, unknown>
    | undefined;
}

export function recentRuns(db: Db, limit: number) {
  return stmt(db, 'SELECT run_id, as_of, status, grants, amount_cents, over_budget, file, started_at, finished_at FROM runs ORDER BY run_id DESC LIMIT ?').all(limit) as {
    run_id: number;
    as_of: string;
    status: string;
    grants: number;
    amount_cents: number;
    over_budget: number;
    file: string;
    started_at: string;
    finished_at: string | null;
  }[];
}

export function latestExports(db: Db) {
  return stmt(
    db,
    `SELECT e.partner_id, e.as_of, e.dir, e.created_at, e.members, e.rows FROM exports e
     WHERE e.export_id = (SELECT max(export_id) FROM exports x WHERE x.partner_id = e.partner_id) ORDER BY e.partner_id`,
  ).all() as { partner_id: string; as_of: string; dir: string; created_at: string; members: number; rows: number }[];
}
