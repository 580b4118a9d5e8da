import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { BusyError } from '../errors.js';
import { type Db, nowIso, stmt } from './db.js';

export interface LockHolder {
  pid: number;
  host: string;
  command: string;
  started_at: string;
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
 * When a process started (ms since the epoch), on Linux; null elsewhere or when unknown. From
 * /proc/<pid>/stat (start time in clock ticks after boot; USER_HZ is 100 on every Linux ABI Node
 * runs on) and the boot time in /proc/stat.
 */
function processStartMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[19]); // field 22 of the whole line
    const btime = /^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'));
    if (!btime || !Number.isFinite(ticks)) return null;
    return Number(btime[1]) * 1000 + ticks * 10;
  } catch {
    return null;
  }
}

/**
 * Whether the lock's holder still runs: its pid is alive and, where the system tells, that process
 * started before the lock was taken. A pid that was reused by a later, unrelated process (after a
 * reboot, or in a container where pids restart low) would otherwise keep the lock forever.
 */
function holderRuns(held: LockHolder): boolean {
  if (!isAlive(held.pid)) return false;
  const started = processStartMs(held.pid);
  const locked = Date.parse(held.started_at);
  // Two seconds of slack: boot time is in whole seconds, start time in hundredths.
  return started === null || Number.isNaN(locked) || started <= locked + 2000;
}

/**
 * Takes the database's writer lock for `command`, or throws BusyError (75) naming the holder.
 * A lock whose holder process is gone (killed with -9, machine rebooted, pid since reused) is taken over.
 * The check and the take happen in one IMMEDIATE transaction, so two starters cannot both win.
 */
export function acquireLock(db: Db, command: string): () => void {
  const me = { pid: process.pid, host: hostname(), command, started_at: nowIso() };
  db.transaction(() => {
    const held = stmt(db, 'SELECT pid, host, command, started_at FROM lock WHERE id = 1').get() as LockHolder | undefined;
    if (held && held.pid !== process.pid) {
      const sameHost = held.host === me.host;
      if (!sameHost || holderRuns(held)) {
        throw new BusyError(
          `another rewards process holds the lock on this database: pid ${held.pid} on ${held.host} ` +
            `(\`rewards ${held.command}\`, started ${held.started_at}); retry when it has finished`,
        );
      }
    }
    stmt(db, 'INSERT OR REPLACE INTO lock (id, pid, host, command, started_at) VALUES (1, @pid, @host, @command, @started_at)').run(me);
  }).immediate();
  let released = false;
  return () => {
    if (released) return;
    released = true;
    stmt(db, 'DELETE FROM lock WHERE id = 1 AND pid = ? AND host = ?').run(process.pid, me.host);
  };
}
