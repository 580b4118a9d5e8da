/** `rewards ingest`: bad files, bad rows, the reject rate, and the exit codes they give. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { parseJsonOutput, runCli, sqlite, sqliteValue, tempDir } from '../helpers.js';
import { batches, FIXTURE_EVENTS, fixture, type JsonReport, storedEvents } from '../ingest/expected.js';

const HEADER = 'event_id,user_id,event_type,occurred_at';

/** n good event rows, as CSV lines (no header). */
function goodRows(n: number, prefix = 'g'): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}${i},u${i % 3},steps,2026-03-0${1 + (i % 9)}T10:00:00Z`);
}

describe('ingest: bad files', { timeout: 60_000 }, () => {
  it('a failed resume that stops before the resume point does not move it back (no rows counted twice)', async () => {
    const dir = tempDir();
    const db = join(dir, 'r.db');
    const file = join(dir, 'ev.csv');
    // Three readable records (one with an invalid date), then a quote that is never closed.
    writeFileSync(file, 'event_id,member,event_type,occurred_at\ne1,u1,steps,2026-03-01T10:00:00Z\ne2,u1,steps,2026-02-30T10:00:00Z\ne3,u2,steps,2026-03-02T10:00:00Z\ne4,"u3,steps,2026-03-03T10:00:00Z\n');
    const withMap = ['--db', db, '--json', 'ingest', '--max-reject-rate', '1', '--map', 'user_id=member', file];
    const first = await runCli(withMap);
    expect(first.code).toBe(65);
    const batch = () => sqlite<{ records_done: number; rows: number; inserted: number; duplicates: number; rejected: number }>(db, 'SELECT records_done, rows, inserted, duplicates, rejected FROM batches')[0];
    expect(batch()).toEqual({ records_done: 3, rows: 3, inserted: 2, duplicates: 0, rejected: 1 });
    // The same file without --map fails at its header, before the resume point.
    expect((await runCli(['--db', db, 'ingest', file])).code).toBe(65);
    expect(batch()).toEqual({ records_done: 3, rows: 3, inserted: 2, duplicates: 0, rejected: 1 });
    // Resumed again: nothing read twice.
    expect((await runCli(withMap)).code).toBe(65);
    expect(batch()).toEqual({ records_done: 3, rows: 3, inserted: 2, duplicates: 0, rejected: 1 });
    expect(sqliteValue(db, 'SELECT count(*) FROM rejects')).toBe(1);
  });

  it('a missing file exits 66; the other files are still ingested', async () => {
    const dir = tempDir();
    const db = join(dir, 'r.db');
    const missing = join(dir, 'missing.csv');
    const r = await runCli(['--db', db, 'ingest', missing, fixture('events.csv')]);
    expect(r.code).toBe(66);
    expect(r.stderr).toContain(`rewards: ${missing}: no such file; check the path\n`);
    expect(storedEvents(db)).toEqual(FIXTURE_EVENTS);
    expect(batches(db).map((b) => [b.name, b.status])).toEqual([['events.csv', 'complete']]);
  });

  it('truncated gzip, binary, missing columns, empty, UTF-16, bad quoting: each 65 with one line naming the file; the good file is kept', async () => {
    const dir = tempDir();
    const db = join(dir, 'r.db');
    const rows = [HEADER, ...goodRows(30_000, 't')].join('\n') + '\n';
    const gz = gzipSync(rows);
    const files: Record<string, Buffer | string> = {
      'truncated.csv.gz': gz.subarray(0, Math.floor(gz.length * 0.6)),
      'binary.csv': Buffer.concat([Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x14, 0, 0, 0, 8, 0]), Buffer.alloc(200, 7)]),
      'columns.csv': 'id,member,kind\n1,u1,steps\n',
      'empty.csv': '',
      'empty.ndjson': '',
      'utf16.csv': Buffer.from(`\uFEFF${HEADER}\r\ne1,u1,steps,2026-03-01T10:00:00Z\r\n`, 'utf16le'),
      'quoting.csv': `${HEADER}\ne1,u1,"steps,2026-03-01T10:00:00Z\ne2,u1,steps,2026-03-01T10:00:00Z\n`,
    };
    const paths = Object.keys(files).map((name) => join(dir, name));
    for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
    const r = await runCli(['--db', db, 'ingest', ...paths, fixture('events.csv')]);
    expect(r.code).toBe(65);
    expect(r.stdout).toBe('');
    const errLines = r.stderr.split('\n').filter((l) => l.startsWith('rewards: '));
    expect(errLines.length).toBe(paths.length);
    const expected: Record<string, RegExp> = {
      'truncated.csv.gz': /truncated\.csv\.gz: corrupt or truncated gzip data \(unexpected end of file\); fetch the file again; batch 1 \(failed\) kept what was read before: \d+ rows/,
      'binary.csv': /binary\.csv: looks like a binary file, not CSV text/,
      'columns.csv': /columns\.csv: line 1: missing required column\(s\) user_id, event_type, occurred_at; the header has: id, member, kind/,
      'empty.csv': /empty\.csv: empty file/,
      'empty.ndjson': /empty\.ndjson: empty file; an NDJSON export needs at least one record/,
      'utf16.csv': /utf16\.csv: is UTF-16 text \(byte order mark FF FE\), not UTF-8; re-export the file as UTF-8/,
      'quoting.csv': /quoting\.csv: line \d: Quote Not Closed: .*; fix the quoting and ingest again/,
    };
    Object.keys(files).forEach((name, i) => {
      expect(errLines[i]).toMatch(new RegExp(`^rewards: ${join(dir, name).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `));
      expect(errLines[i]).toMatch(expected[name]!);
      expect(errLines[i]).not.toMatch(/at .*\.js:\d+/); // no stack trace
    });
    // the good file after them was loaded
    expect(r.stderr).toMatch(/events\.csv: ingested, batch \d+: 5 rows, 5 inserted/);
    // no failed batch is complete
    const bs = batches(db);
    expect(bs.map((b) => [b.name, b.status])).toEqual([...Object.keys(files).map((n) => [n, 'failed']), ['events.csv', 'complete']]);
    for (const b of bs.slice(0, -1)) expect(b.error, b.name).toMatch(/\S/);

    // the truncated gzip kept the rows read before the damage, and stays failed on a rerun
    const truncated = bs[0]!;
    expect(truncated.rows).toBeGreaterThan(1000);
    expect(truncated.rows).toBeLessThan(30_000);
    expect(sqliteValue(db, "SELECT count(*) FROM events WHERE event_id LIKE 't%'")).toBe(truncated.rows);
    const again = await runCli(['--db', db, '--json', 'ingest', paths[0]!]);
    expect(again.code).toBe(65);
    // (the counts are the batch's, which this run resumed: nothing new was read)
    expect(parseJsonOutput<JsonReport>(again).files[0]).toMatchObject({ status: 'failed', rows: truncated.rows, inserted: truncated.inserted });
    expect(batches(db)[0]).toMatchObject({ status: 'failed', rows: truncated.rows, inserted: truncated.inserted });
    expect(sqliteValue(db, "SELECT count(*) FROM events WHERE event_id LIKE 't%'")).toBe(truncated.rows);
    expect(batches(db).length).toBe(bs.length); // resumed the failed batch, no new one
  });

  it('the --json report of a failed file', async () => {
    const dir = tempDir();
    const file = join(dir, 'empty.csv');
    writeFileSync(file, '');
    const r = await runCli(['--db', join(dir, 'r.db'), '--json', 'ingest', file]);
    expect(r.code).toBe(65);
    expect(parseJsonOutput<JsonReport>(r).files).toEqual([
      expect.objectContaining({
        path: file,
        sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
        status: 'failed',
        rows: 0,
        inserted: 0,
        error: `${file}: empty file; an export with no rows still needs its header line`,
      }),
    ]);
    expect(r.stderr).toBe(`rewards: ${file}: empty file; an export with no rows still needs its header line\n`);
  });

  it('a file with an unknown extension is a usage error for that file (64)', async () => {
    const dir = tempDir();
    const file = join(dir, 'events.txt');
    writeFileSync(file, readFileSync(fixture('events.csv')));
    const r = await runCli(['--db', join(dir, 'r.db'), 'ingest', file]);
    expect(r.code).toBe(64);
    expect(r.stderr).toMatch(/events\.txt: cannot tell the format from the file name/);
    const ok = await runCli(['--db', join(dir, 'r.db'), 'ingest', '--format', 'csv', file]);
    expect(ok.code, ok.stderr).toBe(0);
  });
});

describe('ingest: bad rows', { timeout: 60_000 }, () => {
  it('each rejected row is stored with its file, start line, raw record and a reason naming the field', async () => {
    const dir = tempDir();
    const db = join(dir, 'r.db');
    const file = join(dir, 'rows.csv');
    const rows = goodRows(20);
    // line 17 of the file (header is line 1)
    rows[15] = 'x17,u1,steps,2026-02-30T10:00:00Z';
    writeFileSync(file, [HEADER, ...rows].join('\n') + '\n');
    // 1 of 20 is exactly the default maximum (0.05): not above it
    const r = await runCli(['--db', db, '--json', 'ingest', file]);
    expect(r.code, r.stderr).toBe(0);
    expect(parseJsonOutput<JsonReport>(r).files[0]).toMatchObject({ status: 'ingested', rows: 20, inserted: 19, rejected: 1, error: null });
    expect(sqlite(db, 'SELECT r.batch_id, b.path, r.line, r.raw, r.reason FROM rejects r JOIN batches b USING (batch_id)')).toEqual([
      {
        batch_id: 1,
        path: file,
        line: 17,
        raw: 'x17,u1,steps,2026-02-30T10:00:00Z',
        reason: expect.stringMatching(/^line 17: occurred_at: "2026-02-30T10:00:00Z" is not a valid date-time/),
      },
    ]);
  });

  it('NDJSON: bad JSON, a non-object, a missing field, an invalid row: rejected with reasons; the rest kept', async () => {
    const dir = tempDir();
    const db = join(dir, 'r.db');
    const file = join(dir, 'rows.ndjson');
    writeFileSync(
      file,
      [
        '{"user_id":"u1","event_type":"steps","occurred_at":"2026-03-01T10:00:00Z","event_id":null}',
        '{"user_id":"u1","event_type":"steps",',
        '["u1","steps"]',
        '{"user_id":"u1","occurred_at":"2026-03-01T10:00:00Z"}',
        '{"user_id":"u1","event_type":"steps","occurred_at":"2026-03-01T10:00:00Z","timezone":"Nowhere/Town","properties":[1]}',
        '{"user_id":"u2","event_type":"steps","occurred_at":"2026-03-01T10:00:00Z"}',
      ].join('\n'),
    );
    const r = await runCli(['--db', db, '--json', 'ingest', '--max-reject-rate', '1', file]);
    expect(r.code, r.stderr).toBe(0);
    expect(parseJsonOutput<JsonReport>(r).files[0]).toMatchObject({ rows: 6, inserted: 2, rejected: 4 });
    expect(sqlite(db, 'SELECT line, reason FROM rejects ORDER BY line')).toEqual([
      { line: 2, reason: expect.stringMatching(/^line 2: invalid JSON \(/) },
      { line: 3, reason: 'line 3: expected a JSON object, got an array' },
      { line: 4, reason: 'line 4: event_type: is required' },
      {
        line: 5,
        reason: 'line 5: timezone: "Nowhere/Town" is not a known IANA time zone (e.g. America/New_York); properties: expected a JSON object, got an array',
      },
    ]);
    expect(sqlite(db, 'SELECT user_id FROM events ORDER BY user_id')).toEqual([{ user_id: 'u1' }, { user_id: 'u2' }]);
  });

  it('invalid UTF-8 in a CSV row rejects that row, with its line', async () => {
    const dir = tempDir();
    const db = join(dir, 'r.db');
    const file = join(dir, 'latin1.csv');
    writeFileSync(
      file,
      Buffer.concat([
        Buffer.from(`${HEADER},properties\ne1,u1,steps,2026-03-01T10:00:00Z,"{""city"":""M`),
        Buffer.from([0xfc]), // ü in Latin-1
        Buffer.from(`nchen""}"\ne2,u1,steps,2026-03-01T11:00:00Z,"{""city"":""M\u00fcnchen""}"\n`),
      ]),
    );
    const r = await runCli(['--db', db, '--json', 'ingest', file]);
    expect(r.code).toBe(65); // 1 of 2 rejected
    expect(parseJsonOutput<JsonReport>(r).files[0]).toMatchObject({ status: 'ingested', rows: 2, inserted: 1, rejected: 1 });
    expect(sqlite(db, 'SELECT line, reason FROM rejects')).toEqual([
      { line: 2, reason: 'line 2: properties: contains bytes that are not valid UTF-8; re-export the file as UTF-8' },
    ]);
    expect(sqlite(db, 'SELECT event_id, properties FROM events')).toEqual([{ event_id: 'e2', properties: '{"city":"M\u00fcnchen"}' }]);
  });
});

describe('ingest --max-reject-rate', { timeout: 60_000 }, () => {
  it('above the rate: exit 65 after the good rows are committed, and it says so', async () => {
    const dir = tempDir();
    const db = join(dir, 'r.db');
    const file = join(dir, 'many-bad.csv');
    const rows = goodRows(18);
    rows.splice(3, 0, 'b1,u1,steps,not-a-date');
    rows.splice(10, 0, 'b2,,steps,2026-03-01T10:00:00Z');
    writeFileSync(file, [HEADER, ...rows].join('\n') + '\n');
    const r = await runCli(['--db', db, 'ingest', file]);
    expect(r.code).toBe(65);
    expect(r.stderr).toBe(
      `${file}: ingested, batch 1: 20 rows, 18 inserted, 0 duplicates, 0 conflicts, 2 rejected\n` +
        `rewards: ${file}: 2 of 20 rows rejected (10.0%), above the maximum reject rate 0.05; the good rows were kept; see \`rewards rejects --batch 1\`\n`,
    );
    expect(sqliteValue(db, 'SELECT count(*) FROM events')).toBe(18);
    expect(batches(db)[0]).toMatchObject({ status: 'complete', rows: 20, inserted: 18, rejected: 2 });
    expect(sqlite(db, 'SELECT line, reason FROM rejects ORDER BY line')).toEqual([
      { line: 5, reason: 'line 5: occurred_at: "not-a-date" is not a valid date-time (expected e.g. 2026-03-01T14:30:00Z, 2026-03-01T09:30:00-05:00 or 2026-03-01T09:30:00)' },
      { line: 12, reason: 'line 12: user_id: is required and must not be empty' },
    ]);
    // the file was ingested in full: a rerun skips it
    const again = await runCli(['--db', db, 'ingest', file]);
    expect(again.code).toBe(0);

    // a higher limit accepts the same file
    const db2 = join(dir, 'r2.db');
    const ok = await runCli(['--db', db2, 'ingest', '--max-reject-rate', '0.1', file]);
    expect(ok.code, ok.stderr).toBe(0);
    // 0 allows no rejected row at all
    const db3 = join(dir, 'r3.db');
    const strict = await runCli(['--db', db3, '--json', 'ingest', '--max-reject-rate', '0', file, fixture('events.csv')]);
    expect(strict.code).toBe(65);
    expect(parseJsonOutput<JsonReport>(strict).files.map((f) => f.error === null)).toEqual([false, true]);
  });
});
