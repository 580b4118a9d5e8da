/**
 * Issue 11: the tool runs next to folders other systems write to. Each attack through the CLI: links
 * and FIFOs in the inbox, pathological rows, links planted where the tool writes, modes whatever the
 * umask, two lock holders that share a pid, a newline in a file name, and members with bad fields.
 */
import Database from 'better-sqlite3';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { Workspace } from '../workspace.js';
import { BIN, cliEnv, runCli, sqlite, sqliteValue, tempDir } from '../helpers.js';

vi.setConfig({ testTimeout: 120_000 });

const mode = (p: string) => (statSync(p).mode & 0o777).toString(8);
const workspaces: Workspace[] = [];
const nightly = (inbox: (n: string) => boolean = (n) => n === 'events-2026-03-01.csv') => {
  const w = new Workspace({ demo: inbox, prefix: 'rewards-nightly-' });
  workspaces.push(w);
  return w;
};
afterAll(() => workspaces.forEach((w) => w.cleanup()));

describe('the inbox takes regular files only', () => {
  it('a symlink and a FIFO beside a good file: the good file is ingested, the night ends, nothing of the link target is stored', () => {
    const w = nightly();
    const secret = join(w.dir, 'secret.ndjson');
    writeFileSync(secret, '{"user_id":"SECRET-LINE","event_type":"x","occurred_at":"2026-03-01T10:00:00Z"}\n');
    symlinkSync(secret, join(w.dir, 'inbox/events/x.ndjson'));
    execFileSync('mkfifo', [join(w.dir, 'inbox/events/a.csv')]);
    // A name with a newline: it must not forge a line of the log.
    const forged = join(w.dir, 'inbox/events', 'b\nrewards: nightly 2026-03-31: ok (exit 0).csv');
    symlinkSync(secret, forged);
    const r = w.cli(['--json', 'nightly', '--as-of', '2026-03-31']);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.ingest).toMatchObject({ files: 2, ingested: 2, failed: 0 }); // the demo's members file and one events file
    expect(s.ingest.not_regular.map((n: { type: string }) => n.type).sort()).toEqual(['FIFO', 'symbolic link', 'symbolic link']);
    expect(w.query("SELECT count(*) AS n FROM events WHERE user_id = 'SECRET-LINE'")).toEqual([{ n: 0 }]);
    expect(w.query("SELECT count(*) AS n FROM rejects WHERE raw LIKE '%SECRET%'")).toEqual([{ n: 0 }]);
    expect(w.query('SELECT status, exit_code FROM nightly_runs')).toEqual([{ status: 'ok', exit_code: 0 }]);
    // One warning line per skipped entry, the newline escaped.
    const lines = r.stderr.trim().split('\n');
    expect(lines.filter((l) => l.startsWith('rewards: ') && l.includes('not a regular file'))).toHaveLength(3);
    expect(lines.every((l) => l.startsWith('rewards: '))).toBe(true);
    expect(r.stderr).toContain('b\\nrewards: nightly 2026-03-31: ok (exit 0).csv');
    expect(lines.some((l) => l.startsWith('rewards: nightly'))).toBe(false);
    // The links and the FIFO are left where they were: never read, never archived.
    expect(readdirSync(join(w.dir, 'inbox/events')).length).toBe(3);
  });

  it('ingest of a FIFO or a folder named on the command line exits 66 at once', async () => {
    const dir = tempDir();
    execFileSync('mkfifo', [join(dir, 'p.csv')]);
    mkdirSync(join(dir, 'd.csv'));
    for (const f of ['p.csv', 'd.csv']) {
      const r = await runCli(['--db', join(dir, 'r.db'), 'ingest', join(dir, f)], { timeoutMs: 30_000 });
      expect(r.code, r.stderr).toBe(66);
      expect(r.stderr).toMatch(/is a (FIFO|folder), not a regular file/);
    }
  });
});

describe('pathological rows', () => {
  it('5,000-deep JSON and megabyte properties inside a small gzip: rows rejected naming the limit, neighbours kept, the database barely grows', async () => {
    const dir = tempDir();
    const db = join(dir, 'r.db');
    const deep = '{"a":'.repeat(5000) + '1' + '}'.repeat(5000);
    const big = JSON.stringify({ blob: 'x'.repeat(3 << 20) });
    const lines = [
      '{"user_id":"u1","event_type":"steps","occurred_at":"2026-03-01T10:00:00Z"}',
      `{"user_id":"u2","event_type":"steps","occurred_at":"2026-03-01T10:00:00Z","properties":${deep}}`,
      `{"user_id":"u3","event_type":"steps","occurred_at":"2026-03-01T10:00:00Z","properties":${big}}`,
      `{"user_id":"u4","event_type":"steps","occurred_at":"2026-03-01T10:00:00Z","properties":{"note":"${'y'.repeat(100_000)}"}}`,
      '{"user_id":"u5","event_type":"steps","occurred_at":"2026-03-01T10:00:00Z"}',
    ];
    const file = join(dir, 'e.ndjson.gz');
    writeFileSync(file, gzipSync(lines.join('\n') + '\n'));
    expect(statSync(file).size).toBeLessThan(64 * 1024);
    // (Highly compressible on purpose: the gzip ratio limit, tested below, is lifted here.)
    const r = await runCli(['--db', db, '--json', 'ingest', '--max-reject-rate', '1', '--max-gzip-ratio', '100000', file]);
    expect(r.code, r.stderr).toBe(0);
    expect(sqlite(db, 'SELECT user_id FROM events ORDER BY user_id')).toEqual([{ user_id: 'u1' }, { user_id: 'u5' }]);
    const reasons = sqlite<{ line: number; reason: string; n: number }>(db, 'SELECT line, reason, length(raw) AS n FROM rejects ORDER BY line');
    expect(reasons.map((x) => x.line)).toEqual([2, 3, 4]);
    expect(reasons[0]!.reason).toContain('nested deeper than the limit of 64 levels (--max-json-depth)');
    expect(reasons[1]!.reason).toMatch(/is \d+ bytes long, more than the limit of 1048576 \(--max-record-bytes\)/);
    expect(reasons[2]!.reason).toMatch(/properties: \d+ bytes, more than the limit of 65536 \(--max-properties-bytes\)/);
    // Rejected rows are kept cut short: the database does not take the megabytes.
    for (const x of reasons) expect(x.n).toBeLessThan(2000);
    expect(statSync(db).size).toBeLessThan(1 << 20);
  });

  it('a gzip bomb fails the file with 65, naming the limit', async () => {
    const dir = tempDir();
    const file = join(dir, 'bomb.csv.gz');
    writeFileSync(file, gzipSync(Buffer.concat([Buffer.from('user_id,event_type,occurred_at\n'), Buffer.alloc(20 << 20, 0x0a)])));
    const r = await runCli(['--db', join(dir, 'r.db'), 'ingest', file]);
    expect(r.code).toBe(65);
    expect(r.stderr).toContain('--max-gzip-ratio');
  });

  it('the limits are flags too', async () => {
    const dir = tempDir();
    const file = join(dir, 'e.ndjson');
    writeFileSync(file, '{"user_id":"u1","event_type":"s","occurred_at":"2026-03-01T10:00:00Z","properties":{"a":{"b":{"c":1}}}}\n');
    const r = await runCli(['--db', join(dir, 'r.db'), '--json', 'ingest', '--max-reject-rate', '1', '--max-json-depth', '2', file]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).totals).toMatchObject({ rows: 1, rejected: 1 });
  });
});

describe('files the tool creates', () => {
  for (const umask of [0o000, 0o022]) {
    it(`have modes for personal data under umask ${umask.toString(8).padStart(3, '0')}: database 0600, grant files 0640, folders 0750`, () => {
      const w = nightly();
      const r = spawnSync('sh', ['-c', `umask ${umask.toString(8)} && exec "$0" "$@"`, BIN, 'nightly', '--as-of', '2026-03-31', '--quiet'], {
        cwd: w.dir,
        env: w.env(),
        encoding: 'utf8',
      });
      expect(r.status, r.stderr).toBe(0);
      expect(mode(w.db)).toBe('600');
      for (const d of ['out', 'out/grants', 'archive', 'archive/2026-03-31', 'out/outbox', 'out/outbox/globex']) expect(mode(join(w.dir, d)), d).toBe('750');
      for (const f of w.files('out/grants')) expect(mode(join(w.dir, 'out/grants', f)), f).toBe('640');
    });
  }

  it('an existing database readable by others is made private, with a warning', () => {
    const w = nightly();
    expect(w.cli(['nightly', '--as-of', '2026-03-31', '--quiet']).code).toBe(0);
    chmodSync(w.db, 0o644);
    const r = w.cli(['status']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('the database was readable by others (mode 644)');
    expect(mode(w.db)).toBe('600');
  });

  it('links planted where the tool writes are never followed and nothing outside its folders changes', () => {
    const w = nightly();
    const outside = join(w.dir, 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'victim.txt'), 'untouched');
    mkdirSync(join(w.dir, 'out/grants'), { recursive: true });
    // The temp and final names of the night's grant file, and the folders the tool keeps for itself.
    symlinkSync(join(outside, 'victim.txt'), join(w.dir, 'out/grants/.grants-2026-03-31-1.csv.tmp'));
    symlinkSync(join(outside, 'victim.txt'), join(w.dir, 'out/grants/grants-2026-03-31-1.csv'));
    mkdirSync(join(w.dir, 'out/outbox'), { recursive: true });
    symlinkSync(outside, join(w.dir, 'out/outbox/globex'));
    mkdirSync(join(w.dir, 'archive'));
    symlinkSync(outside, join(w.dir, 'archive/2026-03-31'));
    const r = w.cli(['--json', 'nightly', '--as-of', '2026-03-31']);
    // The export and the archiving are refused (73) naming the link; the grant file is written.
    expect(r.code).toBe(73);
    expect(r.stderr).toContain('is a symbolic link where rewards keeps a folder of its own');
    expect(readdirSync(outside)).toEqual(['victim.txt']);
    expect(readFileSync(join(outside, 'victim.txt'), 'utf8')).toBe('untouched');
    const grantFile = join(w.dir, 'out/grants/grants-2026-03-31-1.csv');
    expect(lstatSync(grantFile).isFile()).toBe(true);
    expect(existsSync(join(w.dir, 'out/grants/.grants-2026-03-31-1.csv.tmp'))).toBe(false);
    expect(w.query('SELECT status, exit_code FROM nightly_runs')).toEqual([{ status: 'partial', exit_code: 73 }]);
  });
});

describe('the lock', () => {
  const hold = (db: string, row: { pid: number; host: string; pid_start: string | null }) => {
    const d = new Database(db);
    d.prepare('INSERT OR REPLACE INTO lock (id, pid, host, command, started_at, pid_start) VALUES (1, ?, ?, ?, ?, ?)').run(row.pid, row.host, 'nightly', '2026-12-01T00:00:00Z', row.pid_start);
    d.close();
  };

  it('a holder with our pid on another host, or a live one on this host, is another process: 75 naming it', async () => {
    const dir = tempDir();
    const db = join(dir, 'r.db');
    const file = join(dir, 'e.csv');
    writeFileSync(file, 'user_id,event_type,occurred_at\nu1,s,2026-03-01T10:00:00Z\n');
    expect((await runCli(['--db', db, 'ingest', file])).code).toBe(0);
    // pid 1 exists in every pid namespace, as in two containers sharing a volume.
    hold(db, { pid: 1, host: 'other-container', pid_start: 'boot:1' });
    const r = await runCli(['--db', db, 'ingest', '--force', file]);
    expect(r.code).toBe(75);
    expect(r.stderr).toContain('pid 1 on other-container');
    // Same host, a live pid, a start time that matches what /proc says: a live holder.
    const start = readFileSync('/proc/1/stat', 'utf8');
    const ticks = start.slice(start.lastIndexOf(')') + 2).split(' ')[19];
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    hold(db, { pid: 1, host: hostname(), pid_start: `${boot}:${ticks}` });
    expect((await runCli(['--db', db, 'ingest', '--force', file])).code).toBe(75);
    // Same host and pid but another start: that process is gone (the pid was reused); taken over.
    hold(db, { pid: 1, host: hostname(), pid_start: `${boot}:0` });
    expect((await runCli(['--db', db, 'ingest', '--force', file])).code).toBe(0);
  });

  it('a writer blocked past busy_timeout by another connection exits 75 naming what holds it', async () => {
    const dir = tempDir();
    const db = join(dir, 'r.db');
    const file = join(dir, 'e.csv');
    writeFileSync(file, 'user_id,event_type,occurred_at\nu1,s,2026-03-01T10:00:00Z\n');
    expect((await runCli(['--db', db, 'ingest', file])).code).toBe(0);
    const other = new Database(db);
    other.exec('BEGIN IMMEDIATE');
    try {
      const r = spawnSync(BIN, ['--db', db, 'ingest', '--force', file], { encoding: 'utf8', env: cliEnv(), timeout: 60_000 });
      expect(r.status, r.stderr).toBe(75);
      expect(r.stderr).toContain('busy timeout');
      expect(r.stderr).toContain('another program');
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
  });
});

describe('members with bad fields keep their rewards', () => {
  it('a bad ZIP, birth date, state and consent: the member keeps its partner and eligibility, the problems are listed', async () => {
    const dir = tempDir();
    const db = join(dir, 'r.db');
    const file = join(dir, 'members.csv');
    writeFileSync(file, 'user_id,zip,birth_date,state,partner,share_consent\nm1,ABCDE,1990-02-30,Mass.,acme,maybe\nm2,02139,1990-01-01,MA,acme,yes\n');
    const r = await runCli(['--db', db, '--json', 'ingest', '--kind', 'members', '--max-reject-rate', '0', file]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).totals).toMatchObject({ rows: 2, inserted: 2, rejected: 0, field_problems: 4 });
    expect(sqlite(db, 'SELECT user_id, zip, birth_date, state, partner, share_consent FROM members ORDER BY user_id')).toEqual([
      { user_id: 'm1', zip: null, birth_date: null, state: null, partner: 'acme', share_consent: 0 },
      { user_id: 'm2', zip: '02139', birth_date: '1990-01-01', state: 'MA', partner: 'acme', share_consent: 1 },
    ]);
    const rej = await runCli(['--db', db, 'rejects']);
    expect(rej.stdout.trim().split('\n')).toEqual([
      'batch_id,file,line,kind,field,reason,raw',
      `1,${file},2,field,birth_date,"""1990-02-30"" is not a valid date (expected YYYY-MM-DD)",1990-02-30`,
      `1,${file},2,field,share_consent,"""maybe"" is not a yes/no value (use true/false, yes/no or 1/0)",maybe`,
      `1,${file},2,field,state,"""Mass."" is not a USPS state code (e.g. MA, PR)",Mass.`,
      `1,${file},2,field,zip,"""ABCDE"" is not a US ZIP code (expected 5 digits, or ZIP+4)",ABCDE`,
    ]);
    expect(sqliteValue(db, 'SELECT field_problems FROM batches')).toBe(4);
  });
});
