/** Opening the database (private, migrated, tuned) and the prepared-statement cache. */
import Database from 'better-sqlite3';
import { chmodSync, closeSync, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CantCreateError, NoInputError } from '../errors.js';
import { createExclusive, makeDir } from '../util/durable.js';
import { BUSY_TIMEOUT_MS, CACHE_KIB } from '../tuning.js';

export type Db = Database.Database;

/** Numbered SQL files, applied in order; `PRAGMA user_version` records the last one applied. */
// Copied beside the built module by `npm run build`: dist/ runs without src/.
const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));

interface Migration {
  version: number;
  name: string;
  sql: string;
}

export function loadMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d{3}_.+\.sql$/.test(f))
    .sort()
    .map((name) => ({ version: Number(name.slice(0, 3)), name, sql: readFileSync(dir + name, 'utf8') }));
}

export interface OpenOptions {
  /** Read-only commands must not create a database that does not exist. */
  mustExist?: boolean;
  readonly?: boolean;
  /** Told when an existing database was readable by others and has been made private. */
  onWarning?: (message: string) => void;
}

/** The database holds names, emails, birth dates and raw rejected rows: owner only. */
const DB_MODE = 0o600;

/**
 * Creates the database file 0600 before SQLite opens it (SQLite gives its -wal and -shm files the
 * database's mode), or makes an existing one private, with a warning, when others could read it:
 * the database, its -wal and its -shm each (another program may have made them).
 */
function privateFile(path: string, onWarning?: (message: string) => void): void {
  try {
    statSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    makeDir(dirname(path));
    closeSync(createExclusive(path, DB_MODE));
    return;
  }
  for (const f of [path, `${path}-wal`, `${path}-shm`]) {
    let st;
    try {
      st = statSync(f);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    if ((st.mode & 0o077) === 0) continue;
    chmodSync(f, DB_MODE);
    onWarning?.(`${f}: was readable by others (mode ${(st.mode & 0o777).toString(8)}); the database holds personal data, so it is now 0600`);
  }
}

/** The database this process opened last: what a "database is busy" error names (cli.ts). */
let lastOpened: string | null = null;
export function lastOpenedDatabase(): string | null {
  return lastOpened;
}

export function openDb(path: string, opts: OpenOptions = {}): Db {
  lastOpened = path;
  let db: Db;
  try {
    if (path !== ':memory:' && !opts.readonly && !(opts.mustExist && !existsSync(path))) privateFile(path, opts.onWarning);
    db = new Database(path, { fileMustExist: opts.mustExist ?? false, readonly: opts.readonly ?? false });
  } catch (err) {
    const msg = (err as Error).message;
    if (opts.mustExist) {
      throw new NoInputError(`${path}: cannot open the database (${msg}); run \`rewards ingest\` first or pass --db`);
    }
    throw new CantCreateError(`${path}: cannot open or create the database (${msg}); check the path and permissions`);
  }
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  db.pragma(`cache_size = -${CACHE_KIB}`);
  if (!opts.readonly) {
    db.pragma('journal_mode = WAL');
    // NORMAL in WAL mode keeps the database consistent across a crash of the process (kill -9);
    // only a power loss can drop the last transactions, which a rerun then redoes.
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    migrate(db);
  }
  return db;
}

export function migrate(db: Db): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  for (const m of loadMigrations()) {
    if (m.version <= current) continue;
    db.transaction(() => {
      db.exec(m.sql);
      db.pragma(`user_version = ${m.version}`);
    }).immediate();
  }
}

/** Prepared statements cached per database handle: callers ask by SQL text. */
const cache = new WeakMap<Db, Map<string, Database.Statement>>();
export function stmt(db: Db, sql: string): Database.Statement {
  let m = cache.get(db);
  if (!m) cache.set(db, (m = new Map()));
  let s = m.get(sql);
  if (!s) m.set(sql, (s = db.prepare(sql)));
  return s;
}

export function nowIso(): string {
  return new Date().toISOString();
}
