/**
 * Shared test helpers: run the built CLI as a subprocess, make throw-away folders, query a database.
 * The CLI is run from bin/rewards, so `npm test` (which builds first) tests what users run.
 */
import Database from 'better-sqlite3';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const BIN = join(PROJECT_ROOT, 'bin', 'rewards');
export const DEMO = join(PROJECT_ROOT, 'fixtures/demo');

/** The partner keys every test uses: the demo's (fixtures/demo/demo.env), in `rewards keygen`'s format. */
export const KEYS = Object.fromEntries(
  readFileSync(join(DEMO, 'demo.env'), 'utf8')
    .split('\n')
    .map((l) => /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(l.trim()))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => [m[1]!, m[2]!]),
) as { REWARDS_KEY_ACME: string; REWARDS_KEY_GLOBEX: string };

export interface CliResult {
  /** Exit code, or null when the process was killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** Working folder (default: the project root; pass a temp dir so ./rewards.db lands there). */
  cwd?: string;
  /** Added to the environment; a value of undefined removes the variable. */
  env?: Record<string, string | undefined>;
  /** Written to stdin (then stdin is closed). Without it stdin is closed at once. */
  input?: string | Buffer;
  /** Kill the process (SIGKILL) after this many ms; the test then fails on code === null. */
  timeoutMs?: number;
}

/**
 * The environment a CLI run gets: the test runner's, minus anything that would point the CLI at a
 * user's database or config (REWARDS_DB, REWARDS_CONFIG, REWARDS_DEBUG), plus `env`.
 */
export function cliEnv(env: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...process.env };
  for (const k of ['REWARDS_DB', 'REWARDS_CONFIG', 'REWARDS_DEBUG']) delete out[k];
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete out[k];
    else out[k] = v;
  }
  return out;
}

/** Starts `bin/rewards ARGS` (the executable, with its shebang) and returns the child (for tests that signal it). */
export function spawnCli(args: string[], opts: Omit<CliOptions, 'input' | 'timeoutMs'> = {}): ChildProcess {
  return spawn(BIN, args, {
    cwd: opts.cwd ?? PROJECT_ROOT,
    env: cliEnv(opts.env),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** Runs `bin/rewards ARGS` to the end: exit code, stdout and stderr as text. */
export function runCli(args: string[], opts: CliOptions = {}): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawnCli(args, opts);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (c: Buffer) => out.push(c));
    child.stderr!.on('data', (c: Buffer) => err.push(c));
    child.stdin!.on('error', () => {}); // the CLI may exit before reading all of stdin
    child.stdin!.end(opts.input ?? undefined);
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolvePromise({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}

/** Parses the single JSON object a `--json` run prints on stdout (fails loudly if there is anything else). */
export function parseJsonOutput<T = unknown>(r: CliResult): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`stdout is not one JSON object:\n${r.stdout}\n--- stderr:\n${r.stderr}`);
  }
}

const tempDirs = new Set<string>();
function removeAll(): void {
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  tempDirs.clear();
}
// After each test file (this module is loaded once per file while vitest collects it), and at exit.
try {
  afterAll(removeAll);
} catch {
  // not inside a vitest collection (a plain script): the exit handler still cleans up
}
process.on('exit', removeAll);

/** A fresh empty folder under the OS temp dir, removed after the test file (or at exit). */
export function tempDir(prefix = 'rewards-test-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(d);
  return d;
}

/** Removes a temp folder now (optional: they are all removed at exit anyway). */
export function removeTempDir(d: string): void {
  rmSync(d, { recursive: true, force: true });
  tempDirs.delete(d);
}

/** Runs a query on a database opened read-only and returns all rows. */
export function sqlite<T = Record<string, unknown>>(dbPath: string, sql: string, ...params: unknown[]): T[] {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}

/** The first column of the first row of a query (e.g. a count), or undefined when there is no row. */
export function sqliteValue<T = unknown>(dbPath: string, sql: string, ...params: unknown[]): T | undefined {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    const stmt = db.prepare(sql);
    return (stmt.raw().get(...params) as unknown[] | undefined)?.[0] as T | undefined;
  } finally {
    db.close();
  }
}

/**
 * The third-party test suites (csv-spectrum, JSONTestSuite), read in place: `$REWARDS_TESTSUITES`,
 * else `../shared/testsuites` next to the project. Null when neither exists (a fresh clone).
 */
export function testsuitesDir(): string | null {
  const fromEnv = process.env.REWARDS_TESTSUITES;
  const dir = fromEnv ? resolve(fromEnv) : resolve(PROJECT_ROOT, '..', 'shared', 'testsuites');
  return existsSync(dir) ? dir : null;
}

export const TESTSUITES_HOWTO =
  'third-party test suites not found: set REWARDS_TESTSUITES to a folder holding csv-spectrum/ and JSONTestSuite/ ' +
  '(or put them at ../shared/testsuites next to the project) to run these tests';

/** Polls `check` every `everyMs` until it returns true or `timeoutMs` passes; returns the last result. */
export async function waitFor(check: () => boolean, timeoutMs = 10_000, everyMs = 20): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    let ok = false;
    try {
      ok = check();
    } catch {
      ok = false;
    }
    if (ok) return true;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
