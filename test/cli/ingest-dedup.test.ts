/** `rewards ingest`: duplicates, conflicts, re-ingest, --force, members, and the --json report. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseJsonOutput, runCli, sqlite, sqliteValue, tempDir } from '../helpers.js';
import { batches, dailyActivity, FIXTURE_DAILY, FIXTURE_EVENTS, fixture, type JsonReport, sha256File, snapshot, storedEvents } from '../ingest/expected.js';

describe('ingest: duplicates and conflicts', { timeout: 60_000 }, () => {
  it('the same event_id with the same content is a duplicate; with other content, a conflict that is rejected', async () => {
    const dir = tempDir();
    const file = join(dir, 'dups.csv');
    writeFileSync(
      file,
      [
        'event_id,user_id,event_type,occurred_at,properties',
        'e1,u1,steps,2026-03-01T10:00:00Z,"{""steps"":10}"',
        'e2,u1,steps,2026-03-01T11:00:00Z,',
        // the same content: the same instant in another offset, keys in another order
        'e1,u1,steps,2026-03-01T05:00:00-05:00,"{ ""steps"": 10 }"',
        // same id, other content: the first is kept
        'e1,u1,steps,2026-03-01T10:00:00Z,"{""steps"":99}"',
        'e2,u2,steps,2026-03-01T11:00:00Z,',
        'e3,u1,steps,2026-03-01T12:00:00Z,',
      ].join('\n') + '\n',
    );
    const db = join(dir, 'r.db');
    const r = await runCli(['--db', db, '--json', 'ingest', '--max-reject-rate', '0.5', file]);
    expect(r.code, r.stderr).toBe(0);
    expect(parseJsonOutput<JsonReport>(r).files[0]).toMatchObject({ rows: 6, inserted: 3, duplicates: 1, conflicts: 2, rejected: 2, error: null });
    expect(sqlite(db, 'SELECT event_id, user_id, occurred_at, properties, line FROM events ORDER BY event_id')).toEqual([
      { event_id: 'e1', user_id: 'u1', occurred_at: '2026-03-01T10:00:00Z', properties: '{"steps":10}', line: 2 },
      { event_id: 'e2', user_id: 'u1', occurred_at: '2026-03-01T11:00:00Z', properties: null, line: 3 },
      { event_id: 'e3', user_id: 'u1', occurred_at: '2026-03-01T12:00:00Z', properties: null, line: 7 },
    ]);
    expect(sqlite(db, 'SELECT line, raw, reason FROM rejects ORDER BY line')).toEqual([
      { line: 5, raw: 'e1,u1,steps,2026-03-01T10:00:00Z,"{""steps"":99}"', reason: 'line 5: conflicting duplicate of event_id e1' },
      { line: 6, raw: 'e2,u2,steps,2026-03-01T11:00:00Z,', reason: 'line 6: conflicting duplicate of event_id e2' },
    ]);
    // the rollup counts each stored event once
    expect(dailyActivity(db)).toEqual([{ user_id: 'u1', event_type: 'steps', local_date: '2026-03-01', events: 3 }]);
  });

  it('duplicates across files, and between a CSV and an NDJSON export without ids', async () => {
    const dir = tempDir();
    const db = join(dir, 'r.db');
    const r = await runCli(['--db', db, '--json', 'ingest', fixture('events.csv'), fixture('events.ndjson')]);
    expect(r.code, r.stderr).toBe(0);
    const report = parseJsonOutput<JsonReport>(r);
    expect(report.files.map((f) => [f.status, f.rows, f.inserted, f.duplicates, f.conflicts])).toEqual([
      ['ingested', 5, 5, 0, 0],
      ['ingested', 5, 0, 5, 0],
    ]);
    expect(report.totals).toEqual({ rows: 10, inserted: 5, duplicates: 5, conflicts: 0, rejected: 0, field_problems: 0 });
    expect(storedEvents(db)).toEqual(FIXTURE_EVENTS);
    expect(dailyActivity(db)).toEqual(FIXTURE_DAILY);
  });
});

describe('ingest: re-ingest', { timeout: 60_000 }, () => {
  it('the same file again is skipped and changes nothing; --force reads it again and rows still dedup', async () => {
    const dir = tempDir();
    const db = join(dir, 'r.db');
    const file = fixture('events.csv');
    const first = await runCli(['--db', db, 'ingest', file]);
    expect(first.code, first.stderr).toBe(0);
    const before = snapshot(db);

    const again = await runCli(['--db', db, '--json', 'ingest', file]);
    expect(again.code, again.stderr).toBe(0);
    expect(parseJsonOutput<JsonReport>(again)).toEqual({
      files: [
        expect.objectContaining({ path: file, sha256: sha256File(file), status: 'skipped', rows: 0, inserted: 0, duplicates: 0, conflicts: 0, rejected: 0, error: null }),
      ],
      totals: { rows: 0, inserted: 0, duplicates: 0, conflicts: 0, rejected: 0, field_problems: 0 },
    });
    expect(snapshot(db)).toEqual(before);
    const human = await runCli(['--db', db, 'ingest', file]);
    expect(human.stderr).toBe(`${file}: skipped, already ingested in full as batch 1 (--force reads it again)\n`);

    const forced = await runCli(['--db', db, '--json', 'ingest', '--force', file]);
    expect(forced.code, forced.stderr).toBe(0);
    expect(parseJsonOutput<JsonReport>(forced).files[0]).toMatchObject({ status: 'ingested', batch_id: 2, rows: 5, inserted: 0, duplicates: 5, conflicts: 0, rejected: 0 });
    const after = snapshot(db);
    expect(after.events).toEqual(before.events);
    expect(after.daily).toEqual(before.daily);
    expect(after.batches.map((b) => [b.batch_id, b.status, b.sha256])).toEqual([
      [1, 'complete', sha256File(file)],
      [2, 'complete', sha256File(file)],
    ]);
  });

  it('the same file twice in one command: the second is skipped', async () => {
    const dir = tempDir();
    const db = join(dir, 'r.db');
    const r = await runCli(['--db', db, '--json', 'ingest', fixture('events.tsv'), fixture('events.tsv')]);
    expect(r.code, r.stderr).toBe(0);
    expect(parseJsonOutput<JsonReport>(r).files.map((f) => f.status)).toEqual(['ingested', 'skipped']);
  });
});

describe('ingest --kind members', { timeout: 60_000 }, () => {
  it('loads members: mixed-case headers, a later row replaces the earlier one, bad fields stored empty, nothing in events', async () => {
    const dir = tempDir();
    const db = join(dir, 'r.db');
    const file = fixture('members.csv');
    const r = await runCli(['--db', db, '--json', 'ingest', '--kind', 'members', '--max-reject-rate', '0.5', file]);
    expect(r.code, r.stderr).toBe(0);
    const report = parseJsonOutput<JsonReport>(r);
    expect(report.files[0]).toMatchObject({ status: 'ingested', rows: 6, rejected: 0, field_problems: 4, extra_columns: ['plan_tier'] });
    expect(
      sqlite(db, 'SELECT user_id, email, first_name, last_name, birth_date, zip, state, partner, share_consent, line FROM members ORDER BY user_id'),
    ).toEqual([
      { user_id: 'm1', email: 'ana.silva@example.com', first_name: 'Ana', last_name: 'Silva', birth_date: '1990-02-28', zip: '02134', state: 'MA', partner: 'acme', share_consent: 0, line: 5 },
      { user_id: 'm2', email: 'bo@example.com', first_name: 'Bo', last_name: 'Li', birth_date: '1985-07-04', zip: '94105', state: 'CA', partner: 'acme', share_consent: 0, line: 3 },
      { user_id: 'm3', email: 'cy@example.com', first_name: 'Cy', last_name: null, birth_date: '1979-12-31', zip: '10001', state: 'NY', partner: 'globex', share_consent: 0, line: 4 },
      // m4's email, birth date, ZIP and consent are invalid: stored empty (consent false); the member keeps its partner.
      { user_id: 'm4', email: null, first_name: 'Di', last_name: 'Ng', birth_date: null, zip: null, state: 'TX', partner: 'globex', share_consent: 0, line: 6 },
      { user_id: 'm5', email: 'ed@example.com', first_name: 'Ed', last_name: 'Ray', birth_date: null, zip: null, state: null, partner: null, share_consent: 1, line: 7 },
    ]);
    expect(sqliteValue(db, 'SELECT count(*) FROM rejects')).toBe(0);
    expect(sqlite(db, 'SELECT line, field, value, reason FROM field_problems ORDER BY field')).toEqual([
      { line: 6, field: 'birth_date', value: '1990-02-30', reason: '"1990-02-30" is not a valid date (expected YYYY-MM-DD)' },
      { line: 6, field: 'email', value: 'bad-email', reason: '"bad-email" is not an email address' },
      { line: 6, field: 'share_consent', value: 'maybe', reason: '"maybe" is not a yes/no value (use true/false, yes/no or 1/0)' },
      { line: 6, field: 'zip', value: '1234', reason: '"1234" is not a US ZIP code (expected 5 digits, or ZIP+4)' },
    ]);
    // personal data stays in members
    expect(sqliteValue(db, 'SELECT count(*) FROM events')).toBe(0);
    expect(sqliteValue(db, 'SELECT count(*) FROM daily_activity')).toBe(0);
    expect(batches(db).map((b) => [b.kind, b.status])).toEqual([['members', 'complete']]);

    // a later export replaces a member's row; the same rows again are duplicates
    const later = join(dir, 'members-2.csv');
    writeFileSync(later, 'user_id,email,share_consent,partner\nm2,bo.li@example.com,yes,acme\nm3,cy@example.com,,globex\n');
    const r2 = await runCli(['--db', db, '--json', 'ingest', '--kind', 'members', later]);
    expect(r2.code, r2.stderr).toBe(0);
    expect(sqlite(db, "SELECT user_id, email, share_consent, last_name, batch_id FROM members WHERE user_id IN ('m2','m3') ORDER BY user_id")).toEqual([
      { user_id: 'm2', email: 'bo.li@example.com', share_consent: 1, last_name: null, batch_id: 2 },
      { user_id: 'm3', email: 'cy@example.com', share_consent: 0, last_name: null, batch_id: 2 },
    ]);
  });

  it('a members file is not skipped as an events file with the same bytes', async () => {
    const dir = tempDir();
    const db = join(dir, 'r.db');
    const file = join(dir, 'both.csv');
    writeFileSync(file, 'user_id,event_type,occurred_at\nu1,steps,2026-03-01T10:00:00Z\n');
    expect((await runCli(['--db', db, 'ingest', file])).code).toBe(0);
    const r = await runCli(['--db', db, '--json', 'ingest', '--kind', 'members', file]);
    expect(r.code, r.stderr).toBe(0);
    expect(parseJsonOutput<JsonReport>(r).files[0]!.status).toBe('ingested');
    expect(sqlite(db, 'SELECT user_id FROM members')).toEqual([{ user_id: 'u1' }]);
  });
});

describe('ingest --json', { timeout: 60_000 }, () => {
  it('prints one JSON object with the documented shape; without --json stdout stays empty', async () => {
    const dir = tempDir();
    const db = join(dir, 'r.db');
    const bad = join(dir, 'bad.csv');
    writeFileSync(bad, 'user_id,event_type,occurred_at\nu1,steps,2026-03-01T10:00:00Z\nu2,steps,2026-02-30T10:00:00Z\n');
    const missing = join(dir, 'nope.csv');
    const r = await runCli(['--db', db, '--json', 'ingest', fixture('events.csv'), bad, missing]);
    expect(r.code).toBe(66);
    const report = parseJsonOutput<JsonReport>(r);
    expect(Object.keys(report).sort()).toEqual(['files', 'totals']);
    for (const f of report.files) {
      for (const k of ['path', 'sha256', 'status', 'rows', 'inserted', 'duplicates', 'conflicts', 'rejected', 'error']) expect(f).toHaveProperty(k);
    }
    expect(report.files.map((f) => [f.path, f.status, f.rows, f.inserted, f.duplicates, f.conflicts, f.rejected])).toEqual([
      [fixture('events.csv'), 'ingested', 5, 5, 0, 0, 0],
      [bad, 'ingested', 2, 1, 0, 0, 1],
      [missing, 'failed', 0, 0, 0, 0, 0],
    ]);
    expect(report.files[0]!.sha256).toBe(sha256File(fixture('events.csv')));
    expect(report.files[0]!.error).toBeNull();
    expect(report.files[1]!.error).toMatch(/bad\.csv: 1 of 2 rows rejected \(50\.0%\), above the maximum reject rate 0\.05; the good rows were kept/);
    expect(report.files[2]!.sha256).toBeNull();
    expect(report.files[2]!.error).toBe(`${missing}: no such file; check the path`);
    expect(report.totals).toEqual({ rows: 7, inserted: 6, duplicates: 0, conflicts: 0, rejected: 1, field_problems: 0 });
    // errors are repeated on stderr, one line each
    expect(r.stderr.trim().split('\n')).toEqual([`rewards: ${report.files[1]!.error}`, `rewards: ${report.files[2]!.error}`]);

    const plain = await runCli(['--db', join(dir, 'r2.db'), 'ingest', fixture('events.csv'), bad]);
    expect(plain.code).toBe(65);
    expect(plain.stdout).toBe('');
    expect(plain.stderr).toMatch(/^total: 7 rows, 6 inserted, 0 duplicates, 0 conflicts, 1 rejected, 0 field problem\(s\)$/m);
    const quiet = await runCli(['--db', join(dir, 'r3.db'), '--quiet', 'ingest', fixture('events.csv')]);
    expect([quiet.code, quiet.stdout, quiet.stderr]).toEqual([0, '', '']);
  });
});
