/**
 * Crash safety: an ingest killed with SIGKILL partway, then rerun with the same command, ends with
 * the same database as an uninterrupted ingest of the same file.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { runCli, spawnCli, sqlite, sqliteValue, tempDir } from '../helpers.js';
import { generateMessyEvents } from '../generate.js';

// A dozen commits of 5,000 records (REWARDS_INGEST_COMMIT_EVERY; the default is far larger), so
// that kills can land between and inside them.
const ROWS = Number(process.env.REWARDS_CRASH_ROWS ?? 60_000);
const COMMIT_EVERY = '5000';
/** What must be identical: every table, but timestamps. */
const TABLES: Record<string, string> = {
  events: 'seq, event_id, user_id, event_type, occurred_at, timezone, local_date, properties, content_hash, batch_id, line',
  daily_activity: 'user_id, event_type, local_date, events',
  rejects: 'batch_id, line, raw, reason',
  batches:
    'batch_id, kind, path, name, sha256, size_bytes, format, status, rows, inserted, duplicates, conflicts, rejected, extra_columns, records_done, error',
  members: 'user_id',
  lock: 'pid',
};

/** Per table: row counts on both sides and up to 3 rows found on one side only (compared in SQL: fast). */
function differences(a: string, b: string) {
  const db = new Database(a, { readonly: true });
  try {
    db.prepare('ATTACH DATABASE ? AS other').run(b);
    const out: Record<string, unknown> = {};
    for (const [table, cols] of Object.entries(TABLES)) {
      const count = (schema: string) => (db.prepare(`SELECT count(*) AS n FROM ${schema}.${table}`).get() as { n: number }).n;
      const only = (x: string, y: string) => db.prepare(`SELECT ${cols} FROM ${x}.${table} EXCEPT SELECT ${cols} FROM ${y}.${table} LIMIT 3`).all();
      out[table] = { rows: [count('main'), count('other')], onlyInUninterrupted: only('main', 'other'), onlyInKilled: only('other', 'main') };
    }
    return out;
  } finally {
    db.close();
  }
}

describe('ingest: crash safety', () => {
  it(`kill -9 partway through ${ROWS.toLocaleString('en-US')} rows, rerun: the same database as an uninterrupted ingest`, async () => {
    const dir = tempDir('rewards-crash-');
    const file = join(dir, 'big.csv');
    await generateMessyEvents(file, ROWS);
    const args = (db: string) => ['--db', db, '--quiet', 'ingest', file];
    // The killed load and its rerun parse on a worker thread, the uninterrupted one in-thread: both
    // ways must store the same rows.
    const worker = (on: boolean) => ({ env: { REWARDS_INGEST_COMMIT_EVERY: COMMIT_EVERY, REWARDS_INGEST_WORKER: on ? 'on' : 'off' } });
    const whole = join(dir, 'whole.db');
    const killed = join(dir, 'killed.db');

    /**
     * The load stops itself with SIGKILL at a named point (src/util/crash-point.ts): `ingest:window#n`
     * right after its n-th commit, `ingest:chunk#n` in the middle of a window, after n chunks were
     * stored in its transaction. The rerun then resumes it; the result must equal the uninterrupted load.
     */
    const killAndRerun = async (db: string, point: string) => {
      const child = spawnCli(args(db), { env: { ...worker(true).env, REWARDS_CRASH_AT: point } });
      const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
      expect({ code, signal }, point).toEqual({ code: null, signal: 'SIGKILL' });
      // consistent after the kill: a pending batch at a window boundary, its rows all there, the lock left behind
      const [b] = sqlite<{ status: string; records_done: number; rows: number; inserted: number }>(db, 'SELECT * FROM batches');
      expect(b!.status).toBe('pending');
      expect(b!.records_done % Number(COMMIT_EVERY), point).toBe(0);
      expect(b!.records_done).toBeLessThan(ROWS);
      expect(sqliteValue(db, 'SELECT count(*) FROM events')).toBe(b!.inserted);
      expect(sqliteValue(db, 'SELECT coalesce(sum(events), 0) FROM daily_activity')).toBe(b!.inserted);
      expect(sqliteValue(db, 'SELECT count(*) FROM lock')).toBe(1);
      // the same command again
      return { records: b!.records_done, rerun: await runCli(args(db), worker(true)) };
    };

    // After the 3rd commit (15,000 records stored), and in the middle of the 5th window (records
    // of the 5th window stored but not committed: the commit resumes from 20,000).
    const kills = [
      { point: 'ingest:window#3', db: killed, committed: 15_000 },
      { point: 'ingest:chunk#225', db: join(dir, 'killed-mid.db'), committed: 20_000 },
    ];
    const uninterrupted = await runCli(args(whole), worker(false));
    const reruns = [];
    for (const k of kills) {
      const r = await killAndRerun(k.db, k.point);
      expect(r.records, k.point).toBe(k.committed);
      reruns.push(r.rerun);
    }
    for (const r of reruns) expect(r.code, r.stderr).toBe(0);

    expect(uninterrupted.code, uninterrupted.stderr).toBe(0);

    // sanity: the file exercised what it should
    const [batch] = sqlite<{ rows: number; inserted: number; duplicates: number; conflicts: number; rejected: number; status: string }>(whole, 'SELECT * FROM batches');
    expect(batch!.status).toBe('complete');
    expect(batch!.rows).toBe(ROWS);
    expect(batch!.duplicates).toBeGreaterThan(ROWS / 100);
    expect(batch!.conflicts).toBeGreaterThan(ROWS / 200);
    expect(batch!.rejected).toBeGreaterThan(batch!.conflicts);
    expect(batch!.inserted + batch!.duplicates + batch!.rejected).toBe(ROWS);
    expect(sqliteValue(whole, 'SELECT count(*) FROM events')).toBe(batch!.inserted);

    const same = Object.fromEntries(
      Object.keys(TABLES).map((t) => {
        const n = sqliteValue<number>(whole, `SELECT count(*) FROM ${t}`) ?? 0;
        return [t, { rows: [n, n], onlyInUninterrupted: [], onlyInKilled: [] }];
      }),
    );
    for (const k of kills) {
      expect(differences(whole, k.db), k.point).toEqual(same);
      expect(sqliteValue(k.db, 'SELECT count(*) FROM lock')).toBe(0);
    }
  }, 90_000);
});
