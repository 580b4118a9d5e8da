/** What every command shares: global options, streams, talk and warnings, the config, the store, the lock. */
import type { Command } from 'commander';
import { type RewardsError, UsageError } from '../errors.js';
import { type LoadedConfig, loadConfig } from '../config/load.js';
import { acquireLock } from '../store/lock.js';
import { type Db, openDb } from '../store/db.js';
import { escapeText } from '../util/escape.js';

/** What every command gets: resolved global options, the streams, and helpers for both. */
export interface Context {
  dbPath: string;
  configPath: string;
  configExplicit: boolean;
  json: boolean;
  quiet: boolean;
  /** stderr is a terminal and not --quiet/--json: progress bars are welcome. */
  interactive: boolean;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WriteStream;
  stdin: NodeJS.ReadStream;
  env: NodeJS.ProcessEnv;
}

export interface GlobalOptions {
  db?: string;
  config?: string;
  json?: boolean;
  quiet?: boolean;
}

export function contextFrom(cmd: Command): Context {
  const g = cmd.optsWithGlobals<GlobalOptions>();
  const env = process.env;
  const json = g.json ?? false;
  const quiet = g.quiet ?? false;
  return {
    dbPath: g.db ?? env.REWARDS_DB ?? './rewards.db',
    configPath: g.config ?? env.REWARDS_CONFIG ?? './rewards.config.json',
    configExplicit: g.config !== undefined || env.REWARDS_CONFIG !== undefined,
    json,
    quiet,
    interactive: Boolean(process.stderr.isTTY) && !quiet && !json && env.CI === undefined,
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env,
  };
}

/**
 * Human talk goes to stderr, and not at all with --quiet. One line per call, control characters
 * escaped: a file name or id from the input can neither forge a log line nor drive the terminal.
 */
export function say(ctx: Context, msg: string): void {
  if (!ctx.quiet) ctx.stderr.write(escapeText(msg.replace(/\n$/, '')) + '\n');
}

/** Warnings go to stderr even with --quiet: cron mails them. Escaped as `say` is. */
export function warn(ctx: Context, msg: string): void {
  ctx.stderr.write(`rewards: ${escapeText(msg)}\n`);
}

/** --json output: exactly one JSON object on stdout. */
export function printJson(ctx: Context, value: unknown): void {
  ctx.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

export async function config(ctx: Context, required: boolean): Promise<LoadedConfig> {
  return loadConfig(ctx.configPath, required, ctx.configExplicit);
}

export function openStore(ctx: Context, opts: { mustExist?: boolean } = {}): Db {
  return openDb(ctx.dbPath, { ...opts, onWarning: (m) => warn(ctx, m) });
}

/**
 * Runs `fn` holding the database's writer lock; released on return, throw, or Ctrl-C (SIGINT,
 * SIGTERM). By default a signal releases the lock and ends the process as the signal would (every
 * write is a transaction or a durable file, so that is safe). With `interrupted`, the command stops
 * itself instead: the signal aborts the AbortSignal `fn` gets, with that error, and `fn` cleans up
 * (an export holding a read cursor must not have its lock row written under it).
 */
export async function withLock<T>(
  db: Db,
  command: string,
  fn: (signal: AbortSignal) => Promise<T> | T,
  interrupted?: (sig: NodeJS.Signals) => RewardsError,
): Promise<T> {
  const release = acquireLock(db, command);
  const abort = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (interrupted) {
      abort.abort(interrupted(sig));
      return;
    }
    release();
    process.kill(process.pid, sig);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await fn(abort.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    release();
  }
}

/** Ingest's tuning knobs, from the environment (README, "Environment"). */
export interface IngestTuning {
  /** `REWARDS_INGEST_WORKER`: parse large files on a worker thread (auto), always (on) or never (off). */
  parallel: boolean | 'auto';
  /** `REWARDS_INGEST_COMMIT_EVERY`: records per transaction, hence the most a crash makes a rerun read again. */
  commitEvery?: number;
}

export function ingestTuning(ctx: Context): IngestTuning {
  const raw = ctx.env.REWARDS_INGEST_WORKER;
  const w = (raw ?? 'auto').trim().toLowerCase();
  if (w !== 'auto' && w !== '' && w !== 'on' && w !== 'off') {
    throw new UsageError(`REWARDS_INGEST_WORKER must be auto, on or off, not "${raw}"`);
  }
  const parallel = w === 'on' ? true : w === 'off' ? false : 'auto';
  const every = ctx.env.REWARDS_INGEST_COMMIT_EVERY;
  if (every === undefined || every.trim() === '') return { parallel };
  const n = Number(every);
  if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`REWARDS_INGEST_COMMIT_EVERY must be a positive whole number of records, not "${every}"`);
  return { parallel, commitEvery: n };
}

/** Collects repeatable options: --map a=b --map c=d. */
export function collect(value: string, previous: string[] = []): string[] {
  return previous.concat([value]);
}
