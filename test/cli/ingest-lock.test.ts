/** The writer lock: a second writer exits 75 naming the holder; a dead holder's lock is taken over. */
import Database from 'better-sqlite3';
import { spawn, spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, sqlite, sqliteValue, tempDir } from '../helpers.js';
import { fixture } from '../ingest/expected.js';

// A lock time after the test's sleeper started, as a real holder's would be.
const LOCKED_AT = new Date(Date.now() + 5_000).toISOString();

function setLock(db: string, pid: number, host: string, at = LOCKED_AT): void {
  const h = new Database(db);
  try {
    h.prepare('INSERT OR REPLACE INTO lock (id, pid, host, command, started_at) VALUES (1, ?, ?, ?, ?)').run(pid, host, 'ingest', at);
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
    // The sleeper runs, but it started long after this lock was taken: not the holder.
    setLock(db, sleeper.pid!, hostname(), '2026-03-01T02:00:00.000Z');
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
    expect([r.code, r.stdout]).toEqual([0, 'batch_id,file,line,reason,raw\n']);
  });
});
