/** `rewards ingest` through bin/rewards: every input format loads the same events. */
import { copyFileSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { parseJsonOutput, runCli, sqlite, sqliteValue, tempDir } from '../helpers.js';
import {
  batches,
  dailyActivity,
  FIXTURE_DAILY,
  FIXTURE_EVENTS,
  fixture,
  type JsonReport,
  sha256File,
  storedEvents,
} from '../ingest/expected.js';

describe('ingest: formats', { timeout: 60_000 }, () => {
  it('CSV: exit 0, nothing on stdout, a summary on stderr, the events, the rollup and the batch', async () => {
    const dir = tempDir();
    const db = join(dir, 'r.db');
    const file = fixture('events.csv');
    const r = await runCli(['--db', db, 'ingest', file]);
    expect(r.stderr).toBe(`${file}: ingested, batch 1: 5 rows, 5 inserted, 0 duplicates, 0 conflicts, 0 rejected; ignored column(s): source\n`);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(storedEvents(db)).toEqual(FIXTURE_EVENTS);
    expect(dailyActivity(db)).toEqual(FIXTURE_DAILY);
    // the line where each record starts (e5 spans lines 6-7: a newline inside quotes)
    expect(sqlite(db, 'SELECT event_id, line, batch_id FROM events ORDER BY line').map((e) => e.line)).toEqual([2, 3, 4, 5, 6]);
    expect(batches(db)).toEqual([
      expect.objectContaining({
        batch_id: 1,
        kind: 'events',
        path: file,
        name: 'events.csv',
        sha256: sha256File(file),
        size_bytes: statSync(file).size,
        format: 'csv',
        status: 'complete',
        rows: 5,
        inserted: 5,
        duplicates: 0,
        conflicts: 0,
        rejected: 0,
        extra_columns: 1,
        error: null,
      }),
    ]);
    expect(sqliteValue(db, 'SELECT count(*) FROM rejects')).toBe(0);
    expect(sqliteValue(db, 'SELECT count(*) FROM members')).toBe(0);
  });

  it('TSV, NDJSON, .jsonl and the gzipped variants load the same events', async () => {
    const dir = tempDir();
    const files: Record<string, string> = {
      'events.tsv': 'tsv',
      'events.ndjson': 'ndjson',
      'events.jsonl': 'ndjson',
      'events.csv.gz': 'csv',
      'events.tsv.gz': 'tsv',
      'events.ndjson.gz': 'ndjson',
      'events.jsonl.gz': 'ndjson',
    };
    copyFileSync(fixture('events.tsv'), join(dir, 'events.tsv'));
    copyFileSync(fixture('events.ndjson'), join(dir, 'events.ndjson'));
    copyFileSync(fixture('events.ndjson'), join(dir, 'events.jsonl'));
    for (const [gz, src] of [
      ['events.csv.gz', 'events.csv'],
      ['events.tsv.gz', 'events.tsv'],
      ['events.ndjson.gz', 'events.ndjson'],
      ['events.jsonl.gz', 'events.ndjson'],
    ]) {
      writeFileSync(join(dir, gz!), gzipSync(readFileSync(fixture(src!))));
    }
    await Promise.all(
      Object.entries(files).map(async ([name, format]) => {
        const db = join(dir, `${name}.db`);
        const r = await runCli(['--db', db, '--json', 'ingest', join(dir, name)]);
        expect(r.code, `${name}: ${r.stderr}`).toBe(0);
        const report = parseJsonOutput<JsonReport>(r);
        expect(report.files.map((f) => [f.status, f.rows, f.inserted, f.rejected, f.extra_columns])).toEqual([['ingested', 5, 5, 0, ['source']]]);
        expect(storedEvents(db), name).toEqual(FIXTURE_EVENTS);
        expect(dailyActivity(db), name).toEqual(FIXTURE_DAILY);
        expect(batches(db).map((b) => [b.format, b.name, b.sha256, b.status]), name).toEqual([[format, name, sha256File(join(dir, name)), 'complete']]);
      }),
    );
    // the derived id does not depend on the format
    const ids = Object.keys(files).map((n) => sqliteValue(join(dir, `${n}.db`), "SELECT event_id FROM events WHERE event_id LIKE 'h-%'"));
    expect(new Set(ids).size).toBe(1);
  });

  it('stdin with --format: plain CSV, and a gzip stream of NDJSON (detected by its magic bytes)', async () => {
    const dir = tempDir();
    const csvDb = join(dir, 'csv.db');
    const csv = readFileSync(fixture('events.csv'));
    const r1 = await runCli(['--db', csvDb, 'ingest', '--format', 'csv', '-'], { input: csv });
    expect(r1.code, r1.stderr).toBe(0);
    expect(storedEvents(csvDb)).toEqual(FIXTURE_EVENTS);
    expect(batches(csvDb).map((b) => [b.path, b.name, b.format, b.status, b.sha256])).toEqual([['-', 'stdin', 'csv', 'complete', sha256File(fixture('events.csv'))]]);

    const ndDb = join(dir, 'nd.db');
    const gz = gzipSync(readFileSync(fixture('events.ndjson')));
    const r2 = await runCli(['--db', ndDb, 'ingest', '--format', 'ndjson', '-'], { input: gz });
    expect(r2.code, r2.stderr).toBe(0);
    expect(storedEvents(ndDb)).toEqual(FIXTURE_EVENTS);
    expect(dailyActivity(ndDb)).toEqual(FIXTURE_DAILY);

    // the same bytes again on stdin: skipped, like a file
    const r3 = await runCli(['--db', ndDb, '--json', 'ingest', '--format', 'ndjson', '-'], { input: gz });
    expect(r3.code).toBe(0);
    expect(parseJsonOutput<JsonReport>(r3).files.map((f) => f.status)).toEqual(['skipped']);
  });

  it('stdin without --format is a usage error (64)', async () => {
    const dir = tempDir();
    const r = await runCli(['--db', join(dir, 'r.db'), 'ingest', '-'], { input: 'user_id\n' });
    expect(r.code).toBe(64);
    expect(r.stderr).toMatch(/--format/);
  });

  it('column names are matched case-insensitively; --map reads other columns; extra columns are counted', async () => {
    const dir = tempDir();
    const file = join(dir, 'export.csv');
    writeFileSync(
      file,
      'Member,EVENT_TYPE,Timestamp,Event_ID,Device,App_Version\r\n' +
        'u1,steps,2026-03-01T10:00:00Z,e1,phone,1.2\r\n' +
        'u2,sleep,2026-03-01T23:00:00+01:00,e2,watch,1.3\r\n',
    );
    const db = join(dir, 'r.db');
    const r = await runCli(['--db', db, '--json', 'ingest', '--map', 'occurred_at=timestamp', '--map', 'USER_ID=member', file]);
    expect(r.code, r.stderr).toBe(0);
    const report = parseJsonOutput<JsonReport>(r);
    expect(report.files[0]).toMatchObject({ status: 'ingested', rows: 2, inserted: 2, extra_columns: ['app_version', 'device'] });
    expect(sqlite(db, 'SELECT event_id, user_id, event_type, occurred_at, local_date FROM events ORDER BY event_id')).toEqual([
      { event_id: 'e1', user_id: 'u1', event_type: 'steps', occurred_at: '2026-03-01T10:00:00Z', local_date: '2026-03-01' },
      { event_id: 'e2', user_id: 'u2', event_type: 'sleep', occurred_at: '2026-03-01T23:00:00+01:00', local_date: '2026-03-01' },
    ]);
    expect(batches(db)[0]!.extra_columns).toBe(2);

    // without the map, the required columns are missing
    const r2 = await runCli(['--db', join(dir, 'r2.db'), 'ingest', file]);
    expect(r2.code).toBe(65);
    expect(r2.stderr).toMatch(/export\.csv: line 1: missing required column\(s\) user_id, occurred_at/);
  });

  it('--map problems are usage errors', async () => {
    const dir = tempDir();
    const db = join(dir, 'r.db');
    const run = (...args: string[]) => runCli(['--db', db, 'ingest', ...args, fixture('events.csv')]);
    const [bad, unknown, kind, rate, format] = await Promise.all([
      run('--map', 'occurred_at'),
      run('--map', 'when=timestamp'),
      run('--kind', 'visits'),
      run('--max-reject-rate', '1.5'),
      run('--format', 'xml'),
    ]);
    expect([bad.code, bad.stderr]).toEqual([64, expect.stringMatching(/--map takes FIELD=COLUMN/)]);
    expect([unknown.code, unknown.stderr]).toEqual([64, expect.stringMatching(/"when" is not a events field/)]);
    expect([kind.code, kind.stderr]).toEqual([64, expect.stringMatching(/--kind must be events or members, not "visits"/)]);
    expect([rate.code, rate.stderr]).toEqual([64, expect.stringMatching(/--max-reject-rate must be a number from 0 to 1, not "1.5"/)]);
    expect([format.code, format.stderr]).toEqual([64, expect.stringMatching(/--format must be one of csv, tsv, ndjson, not "xml"/)]);
  });

  it("a Z time takes the config's timezone for its local date; an offset or a timezone column does not", async () => {
    const dir = tempDir();
    const cfg = join(dir, 'rewards.config.json');
    writeFileSync(cfg, JSON.stringify({ timezone: 'Asia/Tokyo' }));
    const file = join(dir, 'tz.ndjson');
    writeFileSync(
      file,
      [
        { event_id: 'z', user_id: 'u', event_type: 't', occurred_at: '2026-03-01T15:30:00Z' },
        { event_id: 'off', user_id: 'u', event_type: 't', occurred_at: '2026-03-01T15:30:00+00:00' },
        { event_id: 'col', user_id: 'u', event_type: 't', occurred_at: '2026-03-01T15:30:00Z', timezone: 'America/New_York' },
        { event_id: 'wall', user_id: 'u', event_type: 't', occurred_at: '2026-03-01T23:30:00' },
      ]
        .map((o) => JSON.stringify(o))
        .join('\n'),
    );
    const withCfg = join(dir, 'cfg.db');
    const r = await runCli(['--db', withCfg, '--config', cfg, 'ingest', file]);
    expect(r.code, r.stderr).toBe(0);
    const dates = (db: string) => Object.fromEntries(sqlite<{ event_id: string; local_date: string }>(db, 'SELECT event_id, local_date FROM events').map((e) => [e.event_id, e.local_date]));
    expect(dates(withCfg)).toEqual({ z: '2026-03-02', off: '2026-03-01', col: '2026-03-01', wall: '2026-03-01' });
    // without a config: UTC (run in a folder with no rewards.config.json);
    // and $REWARDS_CONFIG works like --config, $REWARDS_DB like --db
    const noCfg = join(dir, 'none.db');
    const envDb = join(dir, 'env.db');
    const [r2, r3] = await Promise.all([
      runCli(['--db', noCfg, 'ingest', file], { cwd: tempDir() }),
      runCli(['ingest', file], { env: { REWARDS_CONFIG: cfg, REWARDS_DB: envDb } }),
    ]);
    expect(r2.code, r2.stderr).toBe(0);
    expect(dates(noCfg)).toEqual({ z: '2026-03-01', off: '2026-03-01', col: '2026-03-01', wall: '2026-03-01' });
    expect(r3.code, r3.stderr).toBe(0);
    expect(dates(envDb).z).toBe('2026-03-02');
  });

  it('the database defaults to ./rewards.db', async () => {
    const dir = tempDir();
    const r = await runCli(['--quiet', 'ingest', fixture('events.ndjson')], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(storedEvents(join(dir, 'rewards.db'))).toEqual(FIXTURE_EVENTS);
  });
});
