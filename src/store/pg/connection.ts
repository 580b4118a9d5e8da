/**
 * A PostgreSQL database behind the store's engine interface (db.ts `Db`): the same calls the store
 * makes on SQLite, answered synchronously by a connection on its own thread (worker.ts). The main
 * thread posts a request and sleeps on a shared flag until the answer is in (Atomics.wait), then
 * takes it off the port: no busy loop, and the store stays one synchronous API for both engines.
 */
import { MessageChannel, receiveMessageOnPort, Worker } from 'node:worker_threads';
import { hostname } from 'node:os';
import { BusyError, RewardsError, UnavailableError, UsageError } from '../../errors.js';
import { BUSY_TIMEOUT_MS, PG_FETCH_ROWS, PG_PIPELINE, PG_WORK_MEM_MB } from '../../tuning.js';
import { bind, translate, type Translated } from './dialect.js';
import type { Reply, Request } from './worker.js';

/** A `--db` value that names a PostgreSQL database rather than a SQLite file. */
export function isPostgresUrl(s: string): boolean {
  return /^postgres(ql)?:\/\//i.test(s);
}

/**
 * The URL as it may be shown: without a password (a URL may carry one; it never reaches a log,
 * a message or a file).
 */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '';
    u.searchParams.delete('password');
    return u.toString().replace(/^(postgres(?:ql)?:\/\/[^:@/]*):@/i, '$1@');
  } catch {
    return 'postgres://(unparsable URL)';
  }
}

export interface RunResult {
  changes: number;
  lastInsertRowid: number;
}

type Mode = 'object' | 'array' | 'pluck';

/** SQLSTATE classes the tool answers with its own exit codes. */
function wrapError(r: Extract<Reply, { ok: false }>, label: string, sql?: string): Error {
  const code = r.code ?? '';
  if (code === '55P03' || code === '40P01' || code === '40001') {
    return new BusyError(`${label}: ${r.message} (another connection held what this statement needed); retry when it has finished`);
  }
  if (code.startsWith('08') || code === '57P01' || code === '57P03' || /ECONNREFUSED|ENOENT|ETIMEDOUT|EHOSTUNREACH|Connection terminated|getaddrinfo/i.test(r.message)) {
    return new UnavailableError(`${label}: cannot reach the PostgreSQL server (${r.message}); check that it runs and that --db names it`);
  }
  if (code === '28P01' || code === '28000' || /password authentication|no pg_hba|SASL/i.test(r.message)) {
    return new UnavailableError(`${label}: the PostgreSQL server refused the login (${r.message}); set PGPASSWORD or ~/.pgpass for this user`);
  }
  if (code === '3D000') {
    return new UnavailableError(`${label}: ${r.message}; create it (createdb) or fix the database name in --db`);
  }
  const err = new Error(`${label}: ${r.message}${r.detail ? ` (${r.detail})` : ''}${sql ? `\n  in: ${sql.replace(/\s+/g, ' ').slice(0, 300)}` : ''}`);
  (err as { code?: string }).code = code;
  return err;
}

/**
 * The connection's thread, driven synchronously. `call` sends a request and sleeps until every
 * answer up to it is in; `post` sends one without waiting (COPY data, a load window's merge), so the
 * main thread goes on parsing while the server works. The thread answers in order; a posted
 * request's error is thrown by the next call that waits.
 */
class Bridge {
  private readonly worker: Worker;
  private readonly port;
  /** [0]: answers sent by the connection's thread so far. */
  private readonly done = new Int32Array(new SharedArrayBuffer(4));
  private sent = 0;
  private received = 0;
  private failure: Error | null = null;
  private closed = false;

  constructor(
    connectionString: string,
    readonly label: string,
    applicationName: string,
  ) {
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.worker = new Worker(new URL('./worker.js', import.meta.url), {
      workerData: { port: port2, flag: this.done.buffer, connectionString, applicationName },
      transferList: [port2],
    });
    // The connection's thread never keeps the process alive: a command that returns ends.
    this.worker.unref();
  }

  /** Sends a request without waiting for its answer; waits only when PG_PIPELINE requests are already on their way. */
  post(req: Request, sql?: string, pipelined = true): void {
    if (this.closed) throw new Error(`${this.label}: the connection is closed`);
    if (this.sent - this.received >= PG_PIPELINE) this.settle(this.sent - PG_PIPELINE + 1);
    this.sent++;
    this.port.postMessage({ ...req, sql, pipelined });
  }

  /** Sends a request and returns its answer, once every earlier one is in. */
  call(req: Request, sql?: string): Extract<Reply, { ok: true }> {
    this.post(req, sql, false);
    return this.settle(this.sent)!;
  }

  /** Waits for the answers up to number `upTo`; the first failure among them is thrown. */
  private settle(upTo: number): Extract<Reply, { ok: true }> | undefined {
    let last: Reply | undefined;
    while (this.received < upTo) {
      const done = Atomics.load(this.done, 0);
      if (done <= this.received) {
        Atomics.wait(this.done, 0, done);
        continue;
      }
      const m = receiveMessageOnPort(this.port);
      if (!m) continue;
      this.received++;
      last = m.message as Reply;
      if (!last.ok && !this.failure) this.failure = wrapError(last, this.label, (m.message as { sql?: string }).sql);
    }
    if (this.failure) {
      const err = this.failure;
      this.failure = null;
      throw err;
    }
    return last as Extract<Reply, { ok: true }> | undefined;
  }

  close(): void {
    if (this.closed) return;
    try {
      this.call({ op: 'close' });
    } finally {
      this.closed = true;
      this.port.close();
      void this.worker.terminate();
    }
  }
}

/** One COPY text-format field: NULL as \N, and the characters COPY gives a meaning escaped. */
function copyField(v: unknown): string {
  if (v === null || v === undefined) return '\\N';
  const s = typeof v === 'string' ? v : String(v);
  return /[\\\t\n\r]/.test(s) ? s.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r')) : s;
}

export function copyText(rows: readonly (readonly unknown[])[]): string {
  let out = '';
  for (const r of rows) out += r.map(copyField).join('\t') + '\n';
  return out;
}

class PgStatement {
  private mode: Mode = 'object';
  private readonly t: Translated;

  constructor(
    private readonly db: PostgresDb,
    readonly source: string,
  ) {
    this.t = translate(source);
  }

  pluck(toggle = true): this {
    this.mode = toggle ? 'pluck' : 'object';
    return this;
  }

  raw(toggle = true): this {
    this.mode = toggle ? 'array' : 'object';
    return this;
  }

  private query(text: string, args: unknown[]): Extract<Reply, { ok: true }> {
    return this.db.bridge.call({ op: 'query', text, values: bind(this.t, args), rowMode: this.mode === 'object' ? 'object' : 'array' }, this.source);
  }

  private shape(rows: unknown[]): unknown[] {
    return this.mode === 'pluck' ? rows.map((r) => (r as unknown[])[0]) : rows;
  }

  run(...args: unknown[]): RunResult {
    const r = this.query(this.t.text, args);
    const bridge = this.db.bridge;
    let id: number | undefined;
    return {
      changes: r.rowCount ?? 0,
      // Asked only after an INSERT into a table with an identity column, and only when read.
      get lastInsertRowid() {
        id ??= Number((bridge.call({ op: 'query', text: 'SELECT lastval()', values: [], rowMode: 'array' }).rows![0] as unknown[])[0]);
        return id;
      },
    };
  }

  get(...args: unknown[]): unknown {
    return this.shape(this.query(this.t.text, args).rows ?? [])[0];
  }

  all(...args: unknown[]): unknown[] {
    return this.shape(this.query(this.t.text, args).rows ?? []);
  }

  /**
   * Rows in batches through a server-side cursor inside a transaction (other statements may run
   * between batches, as they may between better-sqlite3's rows); outside one, all at once.
   */
  *iterate(...args: unknown[]): Generator<unknown> {
    if (!this.db.inTransaction) {
      yield* this.all(...args);
      return;
    }
    const name = `rewards_cursor_${++this.db.cursors}`;
    const bridge = this.db.bridge;
    bridge.call({ op: 'query', text: `DECLARE ${name} NO SCROLL CURSOR FOR ${this.t.text}`, values: bind(this.t, args), rowMode: 'array' }, this.source);
    try {
      for (;;) {
        const r = bridge.call({ op: 'query', text: `FETCH ${PG_FETCH_ROWS} FROM ${name}`, values: [], rowMode: this.mode === 'object' ? 'object' : 'array' });
        const rows = r.rows ?? [];
        yield* this.shape(rows);
        if (rows.length < PG_FETCH_ROWS) break;
      }
    } finally {
      if (this.db.inTransaction) {
        try {
          bridge.call({ op: 'exec', text: `CLOSE ${name}` });
        } catch {
          // the transaction failed meanwhile: its cursors went with it
        }
      }
    }
  }
}

type AnyFn = (...args: never[]) => unknown;

export class PostgresDb {
  readonly bridge: Bridge;
  /** The URL without a password: what messages and `status` show. */
  readonly name: string;
  private depth = 0;
  private savepoints = 0;
  cursors = 0;
  private readonly statements = new Map<string, PgStatement>();

  constructor(url: string) {
    this.name = redactUrl(url);
    this.bridge = new Bridge(url, this.name, `rewards (pid ${process.pid} on ${hostname()})`.slice(0, 63));
    // A statement waits for another connection's row locks as long as SQLite's busy timeout, then fails (75).
    this.exec(`SET lock_timeout = ${BUSY_TIMEOUT_MS}; SET client_min_messages = warning; SET work_mem = '${PG_WORK_MEM_MB}MB'`);
  }

  get inTransaction(): boolean {
    return this.depth > 0;
  }

  prepare(sql: string): PgStatement {
    let s = this.statements.get(sql);
    if (!s) this.statements.set(sql, (s = new PgStatement(this, sql)));
    return s;
  }

  /**
   * Statements run as they are, but for SQLite's transaction control: every transaction is
   * REPEATABLE READ, the snapshot a SQLite read transaction gives (a run, an export, a report see
   * one state of the database however long they take).
   */
  exec(sql: string): this {
    const s = sql.trim().replace(/;$/, '');
    if (/^BEGIN(\s+(DEFERRED|IMMEDIATE|EXCLUSIVE))?$/i.test(s)) {
      this.bridge.call({ op: 'exec', text: 'BEGIN ISOLATION LEVEL REPEATABLE READ' });
      this.depth = 1;
    } else if (/^(COMMIT|END)$/i.test(s)) {
      this.depth = 0;
      this.bridge.call({ op: 'exec', text: 'COMMIT' });
    } else if (/^ROLLBACK$/i.test(s)) {
      this.depth = 0;
      this.bridge.call({ op: 'exec', text: 'ROLLBACK' });
    } else {
      this.bridge.call({ op: 'exec', text: translate(sql).text }, sql);
    }
    return this;
  }

  /** COPY rows into a table: one round trip for a whole chunk. */
  copyRows(table: string, columns: readonly string[], rows: readonly (readonly unknown[])[]): number {
    if (rows.length === 0) return 0;
    const text = `COPY ${table.replace(/^temp\./, 'pg_temp.')} (${columns.join(', ')}) FROM STDIN`;
    return this.bridge.call({ op: 'copy', text, data: copyText(rows) }, text).rowCount ?? 0;
  }

  /**
   * Statements and COPYs whose answers nothing waits for (a load window's): sent at once, their
   * errors thrown by the next statement that waits. `begin`/`commit` keep inTransaction true.
   */
  readonly pipeline = {
    copy: (table: string, columns: readonly string[], rows: readonly (readonly unknown[])[]): void => {
      if (rows.length === 0) return;
      const text = `COPY ${table} (${columns.join(', ')}) FROM STDIN`;
      this.bridge.post({ op: 'copy', text, data: copyText(rows) }, text);
    },
    run: (sql: string, ...args: unknown[]): void => {
      const t = translate(sql);
      this.bridge.post({ op: 'query', text: t.text, values: bind(t, args), rowMode: 'array' }, sql);
    },
    exec: (sql: string): void => this.bridge.post({ op: 'exec', text: sql }, sql),
    begin: (): void => {
      this.bridge.post({ op: 'exec', text: 'BEGIN ISOLATION LEVEL REPEATABLE READ' });
      this.depth = 1;
    },
    commit: (): void => {
      this.depth = 0;
      this.bridge.post({ op: 'exec', text: 'COMMIT' });
    },
    /** Waits until everything sent is done (throwing what failed). */
    settle: (): void => {
      this.bridge.call({ op: 'exec', text: '' });
    },
  };

  /** SQLite's cache and journal settings: the server's configuration decides these. */
  pragma(_source: string, options?: { simple?: boolean }): unknown {
    return options?.simple ? 0 : [];
  }

  transaction<F extends AnyFn>(fn: F): F & { deferred: F; immediate: F; exclusive: F } {
    const run = ((...args: Parameters<F>) => {
      if (this.depth === 0) {
        this.exec('BEGIN');
        try {
          const out = fn(...args);
          this.exec('COMMIT');
          return out;
        } catch (err) {
          if (this.depth > 0) this.exec('ROLLBACK');
          throw err;
        }
      }
      const sp = `rewards_sp_${++this.savepoints}`;
      this.bridge.call({ op: 'exec', text: `SAVEPOINT ${sp}` });
      this.depth++;
      try {
        const out = fn(...args);
        this.bridge.call({ op: 'exec', text: `RELEASE SAVEPOINT ${sp}` });
        return out;
      } catch (err) {
        try {
          this.bridge.call({ op: 'exec', text: `ROLLBACK TO SAVEPOINT ${sp}` });
        } catch {
          // the outer transaction is gone: its own rollback reports that
        }
        throw err;
      } finally {
        this.depth--;
      }
    }) as F;
    return Object.assign(run, { deferred: run, immediate: run, exclusive: run });
  }

  close(): this {
    this.bridge.close();
    return this;
  }
}

export function isPostgres(db: unknown): db is PostgresDb {
  return db instanceof PostgresDb;
}

/** Connects, checking the URL first: a malformed one is a usage error (64), not a crash. */
export function connectPostgres(url: string): PostgresDb {
  try {
    const u = new URL(url);
    if (!u.pathname || u.pathname === '/') throw new UsageError(`--db ${redactUrl(url)}: name the database, as in postgres://user@host:5432/rewards`);
  } catch (err) {
    if (err instanceof RewardsError) throw err;
    throw new UsageError(`--db: "${redactUrl(url)}" is not a PostgreSQL URL; write postgres://user@host:port/dbname (the password in PGPASSWORD or ~/.pgpass)`);
  }
  return new PostgresDb(url);
}
