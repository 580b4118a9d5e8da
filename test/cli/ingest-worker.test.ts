/**
 * Large files are parsed on a worker thread (REWARDS_INGEST_WORKER=auto|on|off). Whichever way a
 * file is parsed, ingest must store the same rows, rejects, rollup and batches, and report the same
 * way: good files, bad rows, and files that fail partway.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { runCli, sqlite, tempDir } from '../helpers.js';

const HEADER = 'event_id,user_id,event_type,occurred_at,timezone,properties';

function csvRows(n: number, prefix: string): string[] {
  return Array.from({ length: n }, (_, i) => {
    let row = `${i % 7 === 0 ? '' : prefix + i},u${i % 101},${['steps', 'sleep', 'water'][i % 3]},2026-03-${String(1 + (i % 28)).padStart(2, '0')}T${String(i % 24).padStart(2, '0')}:15:00${['Z', '-05:00', ''][i % 3]},${i % 5 === 0 ? 'Europe/Berlin' : ''},"{""n"":${i % 10}}"`;
    if (i % 400 === 399) row = `${prefix}${i - 300},u1,steps,2026-03-01T10:00:00Z,,`; // a conflicting duplicate
    if (i % 500 === 250) row = `${prefix}bad${i},u1,steps,2026-02-30T10:00:00Z,,`; // an invalid date
    if (i % 800 === 1) row = `${prefix}tz${i},u1,steps,2026-03-01T10:00:00Z,Mars/Olympus,`; // an unknown zone
    return row;
  });
}

/** Every table ingest writes, without timestamps or paths, in a stable order. */
function snapshot(db: string) {
  return {
    events: sqlite(db, 'SELECT event_id, user_id, event_type, occurred_at, timezone, local_date, properties, content_hash, batch_id, line FROM events ORDER BY seq'),
    rollup: sqlite(db, 'SELECT * FROM daily_activity ORDER BY user_id, event_type, local_date'),
    rejects: sqlite(db, 'SELECT batch_id, line, raw, reason FROM rejects ORDER BY batch_id, line'),
    batches: sqlite(db, 'SELECT batch_id, name, status, rows, inserted, duplicates, conflicts, rejected, extra_columns, records_done FROM batches ORDER BY batch_id'),
  };
}

describe('ingest: worker thread and in-thread parsing give the same result', { timeout: 120_000 }, () => {
  it('for good files, bad rows, a corrupt gzip and bad quoting partway', async () => {
    const dir = tempDir('rewards-worker-');
    const rows = csvRows(12_000, 'e');
    const csv = [HEADER, ...rows].join('\n') + '\n';
    const ndjson =
      rows
        .slice(0, 5_000)
        .map((_, i) => JSON.stringify({ event_id: `n${i}`, user_id: `u${i % 50}`, event_type: 'steps', occurred_at: `2026-03-0${1 + (i % 9)}T23:30:00Z`, properties: { b: 2, a: 1 }, extra: i }))
        .join('\n') + '\n{"event_id": "broken"\n';
    const gz = gzipSync([HEADER, ...csvRows(20_000, 'z')].join('\n'));
    const files: Record<string, string | Buffer> = {
      'events.csv': csv,
      'events.ndjson.gz': gzipSync(ndjson),
      'truncated.csv.gz': gz.subarray(0, Math.floor(gz.length * 0.7)),
      // A quote never closed: the rest of the file cannot be read.
      'quoting.csv': [HEADER, ...csvRows(3_000, 'q'), 'q-open,u1,"steps,2026-03-01T10:00:00Z,,', 'r1,u1,steps,2026-03-01T10:00:00Z,,'].join('\n'),
    };
    const paths = Object.entries(files).map(([name, content]) => {
      writeFileSync(join(dir, name), content);
      return join(dir, name);
    });
    const ingest = (db: string, worker: 'on' | 'off') =>
      runCli(['--db', join(dir, db), '--json', 'ingest', ...paths], {
        cwd: dir,
        env: { REWARDS_INGEST_WORKER: worker, REWARDS_INGEST_COMMIT_EVERY: '2000' },
      });
    const [inThread, onWorker] = await Promise.all([ingest('a.db', 'off'), ingest('b.db', 'on')]);

    expect(onWorker.code, onWorker.stderr).toBe(65);
    expect(inThread.code, inThread.stderr).toBe(65);
    expect(onWorker.stderr).toBe(inThread.stderr.replaceAll('a.db', 'b.db'));
    const report = JSON.parse(onWorker.stdout) as { files: { status: string; rows: number; rejected: number; extra_columns: string[] }[] };
    expect(report).toEqual(JSON.parse(inThread.stdout));
    expect(report.files.map((f) => f.status)).toEqual(['ingested', 'ingested', 'failed', 'failed']);
    expect(report.files[0]!.rows).toBe(12_000);
    expect(report.files[1]!.extra_columns).toEqual(['extra']);
    expect(report.files[2]!.rows).toBeGreaterThan(0); // rows before the corruption are kept
    expect(report.files[3]!.rows).toBe(3_000);

    const a = snapshot(join(dir, 'a.db'));
    const b = snapshot(join(dir, 'b.db'));
    expect(b.events.length).toBeGreaterThan(20_000);
    expect(b.rejects.length).toBeGreaterThan(50);
    expect(b).toEqual(a);
  });

  it('REWARDS_INGEST_WORKER and REWARDS_INGEST_COMMIT_EVERY are checked: 64 naming the variable', async () => {
    const dir = tempDir('rewards-worker-');
    writeFileSync(join(dir, 'e.csv'), `${HEADER}\ne1,u1,steps,2026-03-01T10:00:00Z,,\n`);
    const bad = await runCli(['--db', join(dir, 'r.db'), 'ingest', join(dir, 'e.csv')], { env: { REWARDS_INGEST_WORKER: 'maybe' } });
    expect(bad.code).toBe(64);
    expect(bad.stderr).toContain('REWARDS_INGEST_WORKER must be auto, on or off, not "maybe"');
    const every = await runCli(['--db', join(dir, 'r.db'), 'ingest', join(dir, 'e.csv')], { env: { REWARDS_INGEST_COMMIT_EVERY: '0' } });
    expect(every.code).toBe(64);
    expect(every.stderr).toContain('REWARDS_INGEST_COMMIT_EVERY must be a positive whole number of records, not "0"');
  });
});
