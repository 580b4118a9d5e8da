/**
 * A test workspace for the rules / run / explain / report tests: a temp folder with a config, export
 * files, and bin/rewards run as a process, as users run it.
 */
import Database from 'better-sqlite3';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN } from '../helpers.js';


/**
 * Where workspaces go: a RAM disk when there is one (fsync is then free, and these tests need many
 * of them; durability across power loss is not something a test can check anyway), else the temp folder.
 */
export const TMP = process.env.REWARDS_TEST_TMP ?? (existsSync('/dev/shm') ? '/dev/shm' : tmpdir());

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface Reward {
  code: string;
  amount_cents: number;
  currency: string;
}
export const reward = (code: string, amount_cents: number): Reward => ({ code, amount_cents, currency: 'USD' });

/** One event as written to an NDJSON export. */
export interface Ev {
  user_id: string;
  event_type: string;
  occurred_at: string;
  timezone?: string;
  properties?: Record<string, unknown>;
  event_id?: string;
}

/** An event at noon UTC of a date: its local date is that date in any zone from UTC-11 to UTC+11. */
export function ev(user_id: string, event_type: string, date: string, properties?: Record<string, unknown>): Ev {
  return { user_id, event_type, occurred_at: `${date}T12:00:00Z`, ...(properties ? { properties } : {}) };
}

/** Consecutive dates from `from`, `n` of them. */
/** A seeded random source (mulberry32): randomised tests that replay the same for the same seed. */
export function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, chance: (p: number) => next() < p, int: (n: number) => Math.floor(next() * n), pick: <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)]! };
}

export function dates(from: string, n: number): string[] {
  const out: string[] = [];
  const t = Date.parse(from + 'T00:00:00Z');
  for (let i = 0; i < n; i++) out.push(new Date(t + i * 86_400_000).toISOString().slice(0, 10));
  return out;
}

// The grants table's row, as the store defines it.
export type { GrantRow } from '../../src/store/runs.js';
import type { GrantRow } from '../../src/store/runs.js';

export class Workspace {
  readonly dir: string;
  readonly dbPath: string;
  readonly configPath: string;
  private files = 0;

  constructor(prefix = 'rewards-rules-', base = TMP) {
    this.dir = mkdtempSync(join(base, prefix));
    this.dbPath = join(this.dir, 'rewards.db');
    this.configPath = join(this.dir, 'rewards.config.json');
  }

  get grantsDir(): string {
    return join(this.dir, 'out/grants');
  }

  writeConfig(config: unknown, path = this.configPath): string {
    writeFileSync(path, JSON.stringify(config, null, 2));
    return path;
  }

  /** `rewards ARGS` with this workspace's database and config. */
  cli(args: string[], opts: { input?: string; env?: Record<string, string> } = {}): CliResult {
    return this.bin(args, opts);
  }

  /** `bin/rewards ARGS` as a real process: exit status, stdin and stdout as users see them. */
  bin(args: string[], opts: { input?: string; env?: Record<string, string> } = {}): CliResult {
    const env: NodeJS.ProcessEnv = { ...process.env, REWARDS_CONFIG: this.configPath, ...opts.env };
    delete env.REWARDS_DB;
    delete env.REWARDS_DEBUG;
    const r = spawnSync(BIN, ['--db', this.dbPath, ...args], { cwd: this.dir, input: opts.input ?? '', encoding: 'utf8', env });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  /** Runs the command and expects exit 0; returns stdout parsed as JSON when `--json` is among the args. */
  ok(args: string[], opts: { input?: string; env?: Record<string, string>; bin?: boolean } = {}): any {
    const r = opts.bin ? this.bin(args, opts) : this.cli(args, opts);
    if (r.code !== 0) throw new Error(`rewards ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    return args.includes('--json') ? JSON.parse(r.stdout) : r;
  }

  spawn(args: string[]): ChildProcess {
    const env: NodeJS.ProcessEnv = { ...process.env, REWARDS_CONFIG: this.configPath };
    delete env.REWARDS_DB;
    delete env.REWARDS_DEBUG;
    return spawn(BIN, ['--db', this.dbPath, ...args], {
      cwd: this.dir,
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  }

  /** Writes events as an NDJSON export and ingests it through the CLI. */
  ingest(events: Ev[]): void {
    const file = join(this.dir, `events-${++this.files}.ndjson`);
    writeFileSync(file, events.map((e) => JSON.stringify(e)).join('\n') + '\n');
    const r = this.ok(['--json', 'ingest', file]);
    const t = r.totals;
    if (t.rejected !== 0) throw new Error(`ingest rejected rows: ${JSON.stringify(r)}`);
  }

  ingestMembers(members: { user_id: string; partner?: string }[]): void {
    const file = join(this.dir, `members-${++this.files}.csv`);
    writeFileSync(file, 'user_id,partner\n' + members.map((m) => `${m.user_id},${m.partner ?? ''}`).join('\n') + '\n');
    this.ok(['--json', 'ingest', '--kind', 'members', file]);
  }

  run(asOf: string, ...more: string[]): any {
    return this.ok(['--json', 'run', '--as-of', asOf, ...more]);
  }

  /** `rewards --json run` through the real binary. */
  runBin(asOf: string, ...more: string[]): any {
    return this.ok(['--json', 'run', '--as-of', asOf, ...more], { bin: true });
  }

  query<T = any>(sql: string, ...params: unknown[]): T[] {
    const db = new Database(this.dbPath, { readonly: true, fileMustExist: true });
    try {
      return db.prepare(sql).all(...params) as T[];
    } finally {
      db.close();
    }
  }

  exec(sql: string): void {
    const db = new Database(this.dbPath, { fileMustExist: true });
    try {
      db.exec(sql);
    } finally {
      db.close();
    }
  }

  grants(): GrantRow[] {
    if (!existsSync(this.dbPath)) return [];
    return this.query<GrantRow>('SELECT * FROM grants ORDER BY campaign_id, rule_id, user_id, seq');
  }

  /** `user:rule` -> earned dates, e.g. {'u1:five': ['2026-03-05', '2026-03-10']}. */
  earned(campaign?: string): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const g of this.grants()) {
      if (campaign && g.campaign_id !== campaign) continue;
      (out[`${g.user_id}:${g.rule_id}`] ??= []).push(g.earned_on);
    }
    return out;
  }

  /** Names of the files in the grants folder, sorted. */
  grantFiles(): string[] {
    return existsSync(this.grantsDir) ? readdirSync(this.grantsDir).sort() : [];
  }

  read(file: string): string {
    return readFileSync(file.startsWith('/') ? file : join(this.grantsDir, file), 'utf8');
  }

  mkdir(rel: string): string {
    const p = join(this.dir, rel);
    mkdirSync(p, { recursive: true });
    return p;
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A grant file's data rows as objects keyed by its header. No quoting is needed for these values. */
export function parseGrantFile(text: string): { header: string[]; rows: Record<string, string>[] } {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const header = lines[0]!.split(',');
  return { header, rows: lines.slice(1).map((l) => Object.fromEntries(l.split(',').map((v, i) => [header[i]!, v]))) };
}

export const GRANT_HEADER = 'grant_id,run_id,campaign_id,rule_id,user_id,seq,reward_code,amount_cents,currency,earned_on';
