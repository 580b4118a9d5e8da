/** The writer lock: a second writer exits 75 naming the holder; a dead holder's lock is taken over. */
import Database from 'better-sqlite3';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, runCli, sqlite, sqliteValue, tempDir, waitFor } from '../helpers.js';
import { fixture } from '../ingest/expected.js';

const LOCKED_AT = '2026-03-01T02:00:00.000Z';

/** A lock row; `pidStart` is the holder's process start identity (boot id:ticks), null when unknown. */
function setLock(db: string, pid: number, host: string, pidStart: string | null = null): void {
  const h = new Database(db);
  try {
    h.prepare('INSERT OR REPLACE INTO lock (id, pid, host, command, started_at, pid_start) VALUES (1, ?, ?, ?, ?, ?)').run(pid, host, 'ingest', LOCKED_AT, pidStart);
  } finally {
    h.close();
  }
}

/** A pid that is not running: a child that has already exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

describe('ingest: the writer lock', { timeout: 60_000 }, () => {
  const sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
  afterAll(() => {
    sleeper.kill('SIGKILL');
  });

  it.skipIf(process.platform !== 'linux')('a live holder that took the lock itself (same process start) is busy, not stale', async () => {
    const dir = tempDir();
    const db = join(dir, 'r.db');
    expect((await runCli(['--db', db, 'ingest', fixture('events.csv')])).code).toBe(0);
    const stat = readFileSync(`/proc/${sleeper.pid}/stat`, 'utf8');
    const ticks = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    setLock(db, sleeper.pid!, hostname(), `${boot}:${ticks}`);
    const r = await runCli(['--db', db, 'ingest', fixture('events.ndjson')]);
    expect(r.code).toBe(75);
    expect(sqlite(db, 'SELECT pid, pid_start FROM lock')).toEqual([{ pid: sleeper.pid, pid_start: `${boot}:${ticks}` }]);
  });

  it('a command records its own process start in the lock it takes', async () => {
    const dir = tempDir();
    const db = join(dir, 'r.db');
    const holder = spawn(BIN, ['--db', db, 'ingest', '-', '--format', 'csv'], { stdio: ['pipe', 'ignore', 'ignore'] });
    holder.stdin!.write('event_id,user_id,event_type,occurred_at\n');
    try {
      expect(await waitFor(() => (sqliteValue<number>(db, 'SELECT count(*) FROM lock') ?? 0) === 1, 20_000)).toBe(true);
      const [row] = sqlite<{ pid: number; pid_start: string | null }>(db, 'SELECT pid, pid_start FROM lock');
      expect(row!.pid).toBe(holder.pid);
      if (process.platform === 'linux') expect(row!.pid_start).toMatch(/^[0-9a-f-]{36}:\d+$/);
    } finally {
      holder.stdin!.end();
      await new Promise((r) => holder.once('exit', r));
    }
  });

  it('a live holder on this host: exit 75 naming its pid; nothing is read; the lock stays', async () => {
    const dir = tempDir();
    const db = join(dir, 'r.db');
    expect((await runCli(['--db', db, 'ingest', fixture('events.csv')])).code).toBe(0);
    expect(sqlite(db, 'SELECT * FROM lock')).toEqual([]); // released after the run
    setLock(db, sleeper.pid!, hostname());
    const r = await runCli(['--db', db, 'ingest', fixture('events.ndjson')]);
    expect(r.code).toBe(75);
    expect(r.stderr).toBe(
      `rewards: another rewards process holds the lock on this database: pid ${sleeper.pid} on ${hostname()} ` +
        `(\`rewards ingest\`, started ${LOCKED_AT}); retry when it has finished\n`,
    );
    expect(r.stdout).toBe('');
    expect(sqliteValue(db, 'SELECT count(*) FROM batches')).toBe(1);
    expect(sqlite(db, 'SELECT pid, host FROM lock')).toEqual([{ pid: sleeper.pid, host: hostname() }]);
    // with --json too: the error goes to stderr, stdout stays empty
    const j = await runCli(['--db', db, '--json', 'ingest', fixture('events.ndjson')]);
    expect([j.code, j.stdout]).toEqual([75, '']);
  });

  it("a dead holder's lock is taken over, and released at the end", async () => {
    const dir = tempDir();
    const db = join(dir, 'r.db');
    expect((await runCli(['--db', db, 'ingest', fixture('events.csv')])).code).toBe(0);
    setLock(db, deadPid(), hostname());
    const r = await runCli(['--db', db, '--json', 'ingest', fixture('events.ndjson')]);
    expect(r.code, r.stderr).toBe(0);
    expect(sqliteValue(db, 'SELECT count(*) FROM batches')).toBe(2);
    expect(sqlite(db, 'SELECT * FROM lock')).toEqual([]);
  });

  it.skipIf(process.platform !== 'linux')('a lock whose pid now belongs to a process started after it was taken (pid reused) is taken over', async () => {
    const dir = tempDir();
    const db = join(dir, 'r.db');
    expect((await runCli(['--db', db, 'ingest', fixture('events.csv')])).code).toBe(0);
    // The sleeper runs, but it is not the process that took this lock: another start time.
    setLock(db, sleeper.pid!, hostname(), 'some-earlier-boot:12345');
    const r = await runCli(['--db', db, 'ingest', fixture('events.ndjson')]);
    expect(r.code, r.stderr).toBe(0);
    expect(sqliteValue(db, 'SELECT count(*) FROM batches')).toBe(2);
    expect(sqlite(db, 'SELECT * FROM lock')).toEqual([]);
  });

  it('a holder on another host cannot be checked: busy (75)', async () => {
    const dir = tempDir();
    const db = join(dir, 'r.db');
    expect((await runCli(['--db', db, 'ingest', fixture('events.csv')])).code).toBe(0);
    setLock(db, deadPid(), 'other-host.example');
    const r = await runCli(['--db', db, 'ingest', fixture('events.ndjson')]);
    expect(r.code).toBe(75);
    expect(r.stderr).toMatch(/on other-host\.example/);
  });

  it('reading rejects does not need the lock', async () => {
    const dir = tempDir();
    const db = join(dir, 'r.db');
    expect((await runCli(['--db', db, 'ingest', fixture('events.csv')])).code).toBe(0);
    setLock(db, sleeper.pid!, hostname());
    const r = await runCli(['--db', db, 'rejects']);
    expect([r.code, r.stdout]).toEqual([0, 'batch_id,file,line,kind,field,reason,raw\n']);
  });
});
