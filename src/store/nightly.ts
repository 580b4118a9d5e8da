/** All SQL of the nightly job's record (nightly_runs) and what it asks before running. */
import { type Db, nowIso, stmt } from './db.js';

export interface NightlyRow {
  nightly_id: number;
  as_of: string;
  started_at: string;
  finished_at: string | null;
  status: 'running' | 'ok' | 'partial' | 'failed';
  exit_code: number | null;
  summary: string | null;
}

/**
 * Starts the record of a night. A night is one row per as-of date: rerunning it (after a crash, or
 * to finish a failed step) takes over that row, so a repaired night looks like an uninterrupted one.
 * The caller holds the lock, so a row of another date still 'running' is a night that was killed
 * before it could record its end: it is closed as failed, with no exit code (it had none).
 */
export function beginNightly(db: Db, asOf: string): number {
  stmt(db, `UPDATE nightly_runs SET status = 'failed', finished_at = ?, summary = ? WHERE status = 'running' AND as_of <> ?`).run(
    nowIso(),
    JSON.stringify({ steps: [{ step: 'night', ok: false, exit: null, error: 'the process was killed before it could record the end of the night' }] }),
    asOf,
  );
  const open = stmt(db, `SELECT nightly_id FROM nightly_runs WHERE as_of = ? ORDER BY nightly_id DESC LIMIT 1`)
    .pluck()
    .get(asOf) as number | undefined;
  if (open !== undefined) {
    stmt(db, `UPDATE nightly_runs SET status = 'running', started_at = ?, finished_at = NULL WHERE nightly_id = ?`).run(nowIso(), open);
    return open;
  }
  return Number(stmt(db, `INSERT INTO nightly_runs (as_of, started_at, status) VALUES (?, ?, 'running')`).run(asOf, nowIso()).lastInsertRowid);
}

export function finishNightly(db: Db, id: number, status: 'ok' | 'partial' | 'failed', exitCode: number, summary: unknown): void {
  stmt(db, 'UPDATE nightly_runs SET status = ?, exit_code = ?, summary = ?, finished_at = ? WHERE nightly_id = ?').run(
    status,
    exitCode,
    JSON.stringify(summary),
    nowIso(),
    id,
  );
}

/** The as-of date of the last nightly that got its runs done (ok or partial). */
export function lastCompletedNightlyAsOf(db: Db): string | null {
  return (stmt(db, `SELECT max(as_of) FROM nightly_runs WHERE status IN ('ok', 'partial')`).pluck().get() as string | null) ?? null;
}

export function latestNightly(db: Db): NightlyRow | undefined {
  return stmt(db, 'SELECT * FROM nightly_runs ORDER BY started_at DESC, nightly_id DESC LIMIT 1').get() as NightlyRow | undefined;
}

export function hasExport(db: Db, partnerId: string, asOf: string): boolean {
  return stmt(db, 'SELECT 1 FROM exports WHERE partner_id = ? AND as_of = ? LIMIT 1').get(partnerId, asOf) !== undefined;
}

export function hasRunFor(db: Db, asOf: string): boolean {
  return stmt(db, `SELECT 1 FROM runs WHERE as_of = ? AND status = 'complete' LIMIT 1`).get(asOf) !== undefined;
}

/**
 * Ends the night this process is running as failed with `exitCode` (a signal stopped it): the
 * caller holds the lock, so the one row still 'running' is its own.
 */
export function failRunningNightly(db: Db, exitCode: number, error: string): void {
  stmt(db, `UPDATE nightly_runs SET status = 'failed', exit_code = ?, finished_at = ?, summary = ? WHERE status = 'running'`).run(
    exitCode,
    nowIso(),
    JSON.stringify({ steps: [{ step: 'night', ok: false, exit: exitCode, error }] }),
  );
}
