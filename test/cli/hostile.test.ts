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
      // The export's version folder (out/outbox/globex/2026-03-31 links to it) is one the tool creates too.
      for (const d of ['out', 'out/grants', 'archive', 'archive/2026-03-31', 'out/outbox', 'out/outbox/globex', 'out/outbox/globex/2026-03-31']) {
        expect(mode(join(w.dir, d)), d).toBe('750');
      }
      for (const f of w.files('out/grants')) expect(mode(join(w.dir, 'out/grants', f)), f).toBe('640');
      const exported = readdirSync(join(w.dir, 'out/outbox/globex/2026-03-31'));
      expect(exported).toContain('members.csv');
      for (const f of exported) expect(mode(join(w.dir, 'out/outbox/globex/2026-03-31', f)), f).toBe('640');

      // The -wal and -shm files, as a process killed in the middle of a load leaves them.
      const dir = tempDir();
      const db = join(dir, 'r.db');
      writeFileSync(join(dir, 'e.csv'), 'user_id,event_type,occurred_at\nu1,s,2026-03-01T10:00:00Z\n');
      const killed = spawnSync('sh', ['-c', `umask ${umask.toString(8)} && exec "$0" "$@"`, BIN, '--db', db, 'ingest', join(dir, 'e.csv')], {
        env: cliEnv({ REWARDS_CRASH_AT: 'ingest:chunk' }),
        encoding: 'utf8',
      });
      expect(killed.signal).toBe('SIGKILL');
      for (const f of [db, `${db}-wal`, `${db}-shm`]) expect(mode(f), f).toBe('600');
    });
  }

  it('an existing database readable by others is made private, with a warning', () => {
    const w = nightly();
    expect(w.cli(['nightly', '--as-of', '2026-03-31', '--quiet']).code).toBe(0);
    chmodSync(w.db, 0o644);
    // A -wal left readable by another program (the database itself private) is tightened too.
    writeFileSync(`${w.db}-wal`, '');
    chmodSync(`${w.db}-wal`, 0o604);
    const r = w.cli(['status']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`${w.db}: was readable by others (mode 644); the database holds personal data, so it is now 0600`);
    expect(r.stderr).toContain(`${w.db}-wal: was readable by others (mode 604)`);
    expect(mode(w.db)).toBe('600');
    expect(w.cli(['status']).stderr).toBe('');
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

describe('the archive', () => {
  it('a link planted at an archive name is never replaced or followed: the file gets the next name', () => {
    const w = nightly();
    const outside = join(w.dir, 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'victim.txt'), 'untouched');
    mkdirSync(join(w.dir, 'archive/2026-03-31'), { recursive: true });
    const planted = join(w.dir, 'archive/2026-03-31/events-2026-03-01.csv');
    symlinkSync(join(outside, 'victim.txt'), planted);
    const r = w.cli(['nightly', '--as-of', '2026-03-31', '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    expect(lstatSync(planted).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(outside, 'victim.txt'), 'utf8')).toBe('untouched');
    expect(w.files('archive/2026-03-31').sort()).toEqual(['events-2026-03-01.1.csv', 'events-2026-03-01.csv', 'members-2026-03-20.csv']);
    expect(lstatSync(join(w.dir, 'archive/2026-03-31/events-2026-03-01.1.csv')).isFile()).toBe(true);
    expect(w.files('inbox/events')).toEqual([]);
  });
});

describe('a night always ends with a status', () => {
  it('a signal ends it as failed with 128 + the signal number; a night killed with -9 is closed by the next night', () => {
    const w = nightly(() => true);
    // SIGTERM at a known point in the load: the night records its end, releases the lock, and dies of the signal.
    const term = w.cli(['nightly', '--as-of', '2026-03-31'], { env: { REWARDS_CRASH_AT: 'ingest:chunk#3', REWARDS_CRASH_SIGNAL: 'SIGTERM' } });
    expect(term.signal).toBe('SIGTERM');
    expect(w.query('SELECT as_of, status, exit_code FROM nightly_runs')).toEqual([{ as_of: '2026-03-31', status: 'failed', exit_code: 143 }]);
    expect(w.query('SELECT count(*) AS n FROM lock')).toEqual([{ n: 0 }]);
    expect(w.cli(['status']).stdout).toContain('last nightly: as of 2026-03-31, failed (exit 143)');

    // kill -9 of another date's night: its row stays 'running' until the next night, which closes it.
    const killed = w.cli(['nightly', '--as-of', '2026-03-30'], { env: { REWARDS_CRASH_AT: 'ingest:chunk#2' } });
    expect(killed.signal).toBe('SIGKILL');
    expect(w.query("SELECT status FROM nightly_runs WHERE as_of = '2026-03-30'")).toEqual([{ status: 'running' }]);
    const r = w.cli(['nightly', '--as-of', '2026-03-31', '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    expect(w.query('SELECT as_of, status, exit_code FROM nightly_runs ORDER BY as_of')).toEqual([
      { as_of: '2026-03-30', status: 'failed', exit_code: null },
      { as_of: '2026-03-31', status: 'ok', exit_code: 0 },
    ]);
    expect(w.cli(['status']).stdout).toContain('last nightly: as of 2026-03-31, ok (exit 0)');
  });
});

describe('no input of any shape stops a load or exits 1', () => {
  it('odd NDJSON shapes are rejected one by one with a reason; the good rows are kept', async () => {
    const dir = tempDir();
    const db = join(dir, 'r.db');
    const ok = '"event_type":"x","occurred_at":"2026-03-01T10:00:00Z"';
    const lines = [
      '[]',
      'null',
      '"text"',
      '42',
      '{"user_id":{},"event_type":[],"occurred_at":{}}',
      `{"user_id":"u1",${ok},"properties":"[1,2]"}`,
      `{"__proto__":{"user_id":"x"},"user_id":"u2",${ok},"properties":{"__proto__":{"a":1},"constructor":1}}`,
      `{"user_id":12345678901234567890,${ok}}`,
      `{"user_id":"u3",${ok},"timezone":{"a":1}}`,
      `{"user_id":"u4",${ok},"event_id":1e400}`,
      `{"user_id":"u5\\u0000\\n",${ok}}`,
      `{"user_id":true,${ok}}`,
      `{"user_id":"u6",${ok},"properties":{"a":"\\ud800"}}`,
      `{"user_id":{"k":"${'v'.repeat(200_000)}"},${ok}}`,
      `{"user_id":"u7",${ok},"properties":{"a":${'['.repeat(100_000)}${']'.repeat(100_000)}}}`,
      `{"user_id":"u8",${ok}}`,
    ];
    const file = join(dir, 'shapes.ndjson');
    writeFileSync(file, lines.join('\n') + '\n');
    const r = await runCli(['--db', db, '--json', 'ingest', '--max-reject-rate', '1', file]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).totals).toMatchObject({ rows: 16, inserted: 3, rejected: 13 });
    expect(sqlite(db, 'SELECT user_id FROM events ORDER BY user_id')).toEqual([{ user_id: 'u2' }, { user_id: 'u6' }, { user_id: 'u8' }]);
    const reasons = sqlite<{ line: number; reason: string }>(db, 'SELECT line, reason FROM rejects ORDER BY line');
    expect(reasons.map((x) => x.line)).toEqual([1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 14, 15]);
    expect(reasons[0]!.reason).toBe('line 1: expected a JSON object, got an array');
    expect(reasons[9]!.reason).toBe('line 11: user_id: contains control characters');
    // A value of 200,000 characters is quoted in 80; the 100,000-deep array names the depth limit.
    expect(reasons[11]!.reason).toMatch(/^line 14: user_id: expected text or an integer, got \{"k":"v+\.\.\.$/);
    expect(reasons[11]!.reason.length).toBeLessThan(140);
    expect(reasons[12]!.reason).toContain('--max-json-depth');
  });

  it('a file with a new key on every line names 100 of the ignored columns, and says there were more', async () => {
    const dir = tempDir();
    const file = join(dir, 'keys.ndjson');
    const rows = Array.from({ length: 300 }, (_, i) => `{"user_id":"u${i}","event_type":"x","occurred_at":"2026-03-01T10:00:00Z","extra_${i}":1}`);
    writeFileSync(file, rows.join('\n') + '\n');
    const json = await runCli(['--db', join(dir, 'r.db'), '--json', 'ingest', file]);
    expect(json.code, json.stderr).toBe(0);
    const f = JSON.parse(json.stdout).files[0];
    expect(f.inserted).toBe(300);
    expect(f.extra_columns).toHaveLength(100);
    expect(f.extra_columns_more).toBe(true);
    const plain = await runCli(['--db', join(dir, 'r2.db'), 'ingest', file]);
    expect(plain.stderr).toMatch(/ignored column\(s\): extra_0, extra_1, .* and more \(only the first 100 are named\)$/m);
    expect(plain.stderr.length).toBeLessThan(3000);
  });

  it('a member field of 300,000 characters or with control characters: stored empty, kept short in the problems, the member kept', async () => {
    const dir = tempDir();
    const db = join(dir, 'r.db');
    const file = join(dir, 'members.csv');
    writeFileSync(file, `user_id,email,first_name,partner\nm1,${'x'.repeat(300_000)}@example.com,"Ann\x1b[2J",acme\n`);
    const r = await runCli(['--db', db, '--json', 'ingest', '--kind', 'members', file]);
    expect(r.code, r.stderr).toBe(0);
    expect(sqlite(db, 'SELECT user_id, email, first_name, partner FROM members')).toEqual([{ user_id: 'm1', email: null, first_name: null, partner: 'acme' }]);
    const problems = sqlite<{ field: string; reason: string; n: number }>(db, 'SELECT field, reason, length(value) AS n FROM field_problems ORDER BY field');
    expect(problems.map((p) => [p.field, p.reason])).toEqual([
      ['email', 'is longer than 500 characters'],
      ['first_name', 'contains control characters'],
    ]);
    expect(problems[0]!.n).toBeLessThan(1100);
    const rej = await runCli(['--db', db, 'rejects']);
    expect(rej.stdout).toContain('... (300012 characters, cut)');
  });
});

describe('what status prints', () => {
  it('escapes control characters in file names from the inbox', () => {
    const w = nightly();
    expect(w.cli(['nightly', '--as-of', '2026-03-31', '--quiet']).code).toBe(0);
    writeFileSync(join(w.dir, 'inbox/events', 'e\n\x1b[31mlast nightly: ok.csv'), 'user_id,event_type,occurred_at\n');
    const r = w.cli(['status']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('e\\n\\x1b[31mlast nightly: ok.csv');
    expect(r.stdout).not.toContain('\x1b');
    expect(r.stdout.split('\n').filter((l) => l.startsWith('last nightly:'))).toHaveLength(1);
  });
});
