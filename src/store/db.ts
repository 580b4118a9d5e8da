/**
 * Opening the database (private, migrated, tuned) and the prepared-statement cache. Two engines:
 * a SQLite file (a path) or a PostgreSQL database (a postgres:// URL, pg/connection.ts), both
 * behind one interface, `Db`, the subset of better-sqlite3's API the store uses.
 */
import Database from 'better-sqlite3';
import { chmodSync, closeSync, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CantCreateError, NoInputError, RewardsError } from '../errors.js';
import { createExclusive } from '../util/durable.js';
import { BUSY_TIMEOUT_MS, CACHE_KIB } from '../tuning.js';
import { connectPostgres, isPostgres, isPostgresUrl, type PostgresDb } from './pg/connection.js';

export interface Statement {
  run(...params: unknown[]): { changes: number; lastInsertRowid: number | bigint };
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
  iterate(...params: unknown[]): IterableIterator<unknown>;
  pluck(toggle?: boolean): Statement;
  raw(toggle?: boolean): Statement;
}

type AnyFn = (...args: never[]) => unknown;

/** What the store asks of a database, whichever engine holds it. */
export interface Db {
  /** The file, or the URL without its password. */
  readonly name: string;
  readonly inTransaction: boolean;
  prepare(sql: string): Statement;
  exec(sql: string): unknown;
  pragma(source: string, options?: { simple?: boolean }): unknown;
  transaction<F extends AnyFn>(fn: F): F & { deferred: F; immediate: F; exclusive: F };
  close(): unknown;
}

/** The PostgreSQL database behind `db`, or undefined on SQLite: where the store's SQL differs. */
export function postgres(db: Db): PostgresDb | undefined {
  return isPostgres(db) ? db : undefined;
}

/** The SQLite handle behind `db` (for what only SQLite has: registered functions); undefined on PostgreSQL. */
export function sqlite(db: Db): Database.Database | undefined {
  return isPostgres(db) ? undefined : (db as unknown as Database.Database);
}

/** Numbered SQL files per engine, applied in order; `PRAGMA user_version` (SQLite) or `schema_migrations` (PostgreSQL) records them. */
// Copied beside the built module by `npm run build`: dist/ runs without src/.
const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));
const PG_MIGRATIONS_DIR = fileURLToPath(new URL('./pg/migrations/', import.meta.url));

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
    // A folder that does not exist is a typo far more often than a wish: it is never created.
    if (!existsSync(dirname(path))) {
      throw new NoInputError(`${path}: the folder ${dirname(path)} does not exist; create it (mkdir -p) or fix --db`);
    }
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
  if (isPostgresUrl(path)) {
    const pg = connectPostgres(path);
    lastOpened = pg.name;
    if (opts.mustExist) requirePostgresSchema(pg);
    if (!opts.readonly) migratePostgres(pg);
    return pg;
  }
  lastOpened = path;
  let db: Database.Database;
  try {
    if (path !== ':memory:' && !opts.readonly && !(opts.mustExist && !existsSync(path))) privateFile(path, opts.onWarning);
    db = new Database(path, { fileMustExist: opts.mustExist ?? false, readonly: opts.readonly ?? false });
  } catch (err) {
    if (err instanceof RewardsError) throw err;
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
  return db as unknown as Db;
}

export function migrate(db: Database.Database): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  for (const m of loadMigrations()) {
    if (m.version <= current) continue;
    db.transaction(() => {
      db.exec(m.sql);
      db.pragma(`user_version = ${m.version}`);
    }).immediate();
  }
}

/** The key every rewards process agrees on for its advisory locks on a PostgreSQL database ('rewd'): alone for migrations, with 1 for the writer lock (lock.ts). */
export const PG_LOCK_KEY = 0x72657764;

/**
 * Applies the PostgreSQL migrations not yet recorded in schema_migrations, each in its own
 * transaction, under a transaction-level advisory lock so that two processes connecting to a new
 * database at once do not both create it.
 */
function migratePostgres(db: PostgresDb): void {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at text NOT NULL)`);
  for (const m of loadMigrations(PG_MIGRATIONS_DIR)) {
    db.transaction(() => {
      db.prepare(`SELECT pg_advisory_xact_lock(${PG_LOCK_KEY})`).get();
      if (db.prepare('SELECT 1 FROM schema_migrations WHERE version = ?').get(m.version) !== undefined) return;
      db.exec(m.sql);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, nowIso());
    })();
  }
}

/** Read-only commands on a database that no rewards command has created: 66, as for a missing SQLite file. */
function requirePostgresSchema(db: PostgresDb): void {
  const ok = db.prepare(`SELECT to_regclass('schema_migrations') IS NOT NULL`).pluck().get();
  if (!ok) {
    db.close();
    throw new NoInputError(`${db.name}: this database has no rewards tables yet; run \`rewards ingest\` first or pass --db`);
  }
}

/** Prepared statements cached per database handle: callers ask by SQL text. */
const cache = new WeakMap<Db, Map<string, Statement>>();
export function stmt(db: Db, sql: string): Statement {
  let m = cache.get(db);
  if (!m) cache.set(db, (m = new Map()));
  let s = m.get(sql);
  if (!s) m.set(sql, (s = db.prepare(sql)));
  return s;
}

/**
 * Inserts many rows into a table: on SQLite a prepared INSERT per row (cheap in process), on
 * PostgreSQL one COPY (a round trip per row would dominate).
 */
export function insertRows(db: Db, table: string, columns: readonly string[], rows: readonly (readonly unknown[])[]): void {
  const pg = postgres(db);
  if (pg) {
    pg.copyRows(table, columns, rows);
    return;
  }
  const ins = stmt(db, `INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`);
  for (const r of rows) ins.run(...r);
}

export function nowIso(): string {
  return new Date().toISOString();
}
