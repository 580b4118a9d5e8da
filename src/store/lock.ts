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
 * Takes the database's writer lock for `command`, or throws BusyError (75) naming the holder.
 * A lock whose holder process is gone (killed with -9, machine rebooted) is taken over.
 * The check and the take happen in one IMMEDIATE transaction, so two starters cannot both win.
 */
export function acquireLock(db: Db, command: string): () => void {
  const me = { pid: process.pid, host: hostname(), command, started_at: nowIso() };
  db.transaction(() => {
    const held = stmt(db, 'SELECT pid, host, command, started_at FROM lock WHERE id = 1').get() as LockHolder | undefined;
    if (held && held.pid !== process.pid) {
      const sameHost = held.host === me.host;
      if (!sameHost || isAlive(held.pid)) {
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
