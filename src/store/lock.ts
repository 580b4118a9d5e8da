/** The writer lock: one writing command per database, its holder identified by host, pid and process start. */
import Database from 'better-sqlite3';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { BusyError } from '../errors.js';
import { escapeText } from '../util/escape.js';
import { type Db, nowIso, PG_LOCK_KEY, postgres, stmt } from './db.js';
import type { PostgresDb } from './pg/connection.js';

export interface LockHolder {
  pid: number;
  host: string;
  command: string;
  started_at: string;
  /** See processStart(); null when unknown. */
  pid_start: string | null;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * When a process started, as "<boot id>:<clock ticks since boot>" from /proc (Linux); null
 * elsewhere or when unknown. Compared as an identity, never turned into a wall-clock time: the wall
 * clock can be stepped (NTP, a resumed VM) while the process runs.
 */
function processStart(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
    const ticks = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]; // field 22 of the line
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    return ticks && /^\d+$/.test(ticks) ? `${boot}:${ticks}` : null;
  } catch {
    return null;
  }
}

/**
 * Whether the lock's holder still runs: its pid is alive and, where the system tells, it is the
 * same process that took the lock. A pid reused by a later, unrelated process (after a reboot, or in
 * a container where pids restart low) would otherwise keep the lock forever.
 */
function holderRuns(held: LockHolder): boolean {
  if (!isAlive(held.pid)) return false;
  if (!held.pid_start) return true;
  const now = processStart(held.pid);
  return now === null || now === held.pid_start;
}

/**
 * Takes the database's writer lock for `command`, or throws BusyError (75) naming the holder.
 * A lock whose holder process is gone (killed with -9, machine rebooted, pid since reused) is taken over.
 * The check and the take happen in one IMMEDIATE transaction, so two starters cannot both win.
 */
export function acquireLock(db: Db, command: string): () => void {
  const pg = postgres(db);
  if (pg) return acquireAdvisoryLock(pg, command);
  const me = { pid: process.pid, host: hostname(), command, started_at: nowIso(), pid_start: processStart(process.pid) };
  db.transaction(() => {
    const held = stmt(db, 'SELECT pid, host, command, started_at, pid_start FROM lock WHERE id = 1').get() as LockHolder | undefined;
    // Host, pid and start are compared always: the same pid can be another process (pid 1 in two
    // containers sharing a volume, a pid reused after a reboot).
    const mine = held !== undefined && held.host === me.host && held.pid === me.pid && held.pid_start === me.pid_start;
    if (held && !mine && (held.host !== me.host || holderRuns(held))) throw new BusyError(holderText(held));
    stmt(db, 'INSERT OR REPLACE INTO lock (id, pid, host, command, started_at, pid_start) VALUES (1, @pid, @host, @command, @started_at, @pid_start)').run(me);
  }).immediate();
  let released = false;
  return () => {
    if (released) return;
    released = true;
    stmt(db, 'DELETE FROM lock WHERE id = 1 AND pid = ? AND host = ? AND pid_start IS ?').run(process.pid, me.host, me.pid_start);
  };
}

/** The writer lock's key on PostgreSQL: (PG_LOCK_KEY, 1), one per database. */
const ADVISORY_KEY = [PG_LOCK_KEY, 1] as const;

/**
 * On PostgreSQL the writer lock is a session-level advisory lock: the server releases it when the
 * session ends, however the process ended (kill -9, a lost machine), so it can never be left
 * behind. The holder is named from pg_stat_activity, where each process names itself and its
 * command (application_name).
 */
function acquireAdvisoryLock(db: PostgresDb, command: string): () => void {
  const name = `rewards ${command} (pid ${process.pid} on ${hostname()})`.slice(0, 63);
  db.prepare('SELECT set_config(?, ?, false)').get('application_name', name);
  const got = db.prepare('SELECT pg_try_advisory_lock(?, ?)').pluck().get(...ADVISORY_KEY) as boolean;
  if (!got) {
    const held = db
      .prepare(
        `SELECT a.pid, a.application_name, a.usename, CAST(a.client_addr AS text) AS client, to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS since
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
         WHERE l.locktype = 'advisory' AND l.granted AND l.classid = ? AND l.objid = ? AND l.objsubid = 2
           AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
      )
      .get(...ADVISORY_KEY) as { pid: number; application_name: string | null; usename: string | null; client: string | null; since: string | null } | undefined;
    const who = held
      ? `\`${escapeText(held.application_name || 'an unnamed session')}\`, server process ${held.pid}` +
        `${held.usename ? ` as ${escapeText(held.usename)}` : ''}${held.client ? ` from ${escapeText(held.client)}` : ''}${held.since ? `, connected ${held.since}` : ''}`
      : 'a session that has just ended';
    throw new BusyError(`another rewards process holds the lock on ${escapeText(db.name)}: ${who}; retry when it has finished`);
  }
  let released = false;
  return () => {
    if (released) return;
    released = true;
    try {
      db.prepare('SELECT pg_advisory_unlock(?, ?)').get(...ADVISORY_KEY);
    } catch {
      // the session is gone, and the lock with it
    }
  };
}

function holderText(held: LockHolder): string {
  return (
    `another rewards process holds the lock on this database: pid ${escapeText(String(held.pid))} on ${escapeText(held.host)} ` +
    `(\`rewards ${escapeText(held.command)}\`, started ${escapeText(held.started_at)}); retry when it has finished`
  );
}

/**
 * The error for a statement that waited past busy_timeout for another connection's transaction:
 * 75, naming the holder when it is a rewards process (from the lock table, read without waiting),
 * else saying it is something else (sqlite3, an analyst's tool).
 */
export function busyError(path: string): BusyError {
  let held: LockHolder | undefined;
  try {
    const db = new Database(path, { readonly: true, fileMustExist: true, timeout: 0 });
    try {
      held = db.prepare('SELECT pid, host, command, started_at, pid_start FROM lock WHERE id = 1').get() as LockHolder | undefined;
    } finally {
      db.close();
    }
  } catch {
    held = undefined;
  }
  const who = held ? holderText(held).replace('another rewards process holds the lock on this database', 'it is held by a rewards process') : 'no rewards process holds its lock, so it is another program (sqlite3, an analyst\'s tool)';
  return new BusyError(`${escapeText(path)}: the database stayed busy past the 10 s busy timeout: another connection is writing; ${who}`);
}
