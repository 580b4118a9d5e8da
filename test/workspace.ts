/**
 * The one workspace the tests use: a temp folder with a config, a database, optionally a copy of
 * the demo (config and inbox), and bin/rewards run in it as a process, as users run it, with the
 * demo's partner keys in its environment. Beside it, the fixtures the suites build inputs from.
 */
import Database from 'better-sqlite3';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { stringify } from 'csv-stringify/sync';
import type { GrantRow } from '../src/store/runs.js';
import { BIN, type CliResult, DEMO, KEYS } from './helpers.js';

export { KEYS };
export type { GrantRow };

/**
 * Where workspaces go: a RAM disk when there is one (fsync is then free, and the tests need many
 * of them; durability across power loss is not something a test can check anyway), else the temp folder.
 */
export const TMP = process.env.REWARDS_TEST_TMP ?? (existsSync('/dev/shm') ? '/dev/shm' : tmpdir());

export interface WorkspaceOptions {
  /** Name prefix of the temp folder. */
  prefix?: string;
  /** Written as rewards.config.json. */
  config?: unknown;
  /** Copy fixtures/demo (config and inbox, not its keys); a function keeps only the inbox event files it accepts. */
  demo?: boolean | ((eventFile: string) => boolean);
  /** The database: a file in the workspace by default, or a postgres:// URL. */
  db?: string;
}

export class Workspace {
  readonly dir: string;
  readonly db: string;
  readonly configPath: string;
  private inputs = 0;

  constructor(o: WorkspaceOptions | string = {}) {
    const opts = typeof o === 'string' ? { prefix: o } : o;
    this.dir = mkdtempSync(join(TMP, opts.prefix ?? 'rewards-test-'));
    this.db = opts.db ?? join(this.dir, 'rewards.db');
    this.configPath = join(this.dir, 'rewards.config.json');
    if (opts.demo) {
      cpSync(DEMO, this.dir, { recursive: true, filter: (src) => !src.endsWith('demo.env') });
      if (typeof opts.demo === 'function') {
        for (const f of readdirSync(join(this.dir, 'inbox/events'))) if (!opts.demo(f)) rmSync(join(this.dir, 'inbox/events', f));
      }
    }
    if (opts.config !== undefined) this.writeConfig(opts.config);
  }

  get grantsDir(): string {
    return join(this.dir, 'out/grants');
  }

  get outbox(): string {
    return join(this.dir, 'out/outbox');
  }

  /** `<outbox>/<partner>/<asOf>` */
  exportDir(partner: string, asOf: string): string {
    return join(this.outbox, partner, asOf);
  }

  writeConfig(config: unknown, path = this.configPath): string {
    writeFileSync(path, JSON.stringify(config, null, 2));
    return path;
  }

  /** The environment a command gets: this workspace's database and config, the demo's keys, then `extra` (undefined removes). */
  env(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env, ...KEYS, REWARDS_DB: this.db, REWARDS_CONFIG: this.configPath };
    delete env.REWARDS_DEBUG;
    for (const [k, v] of Object.entries(extra)) {
      if (v === undefined) delete env[k];
      else env[k] = v;
    }
    return env;
  }

  /** `bin/rewards ARGS` in this workspace, to the end: exit status, stdout and stderr as users see them. */
  cli(args: string[], opts: { input?: string; env?: Record<string, string | undefined> } = {}): CliResult {
    const r = spawnSync(BIN, args, { cwd: this.dir, input: opts.input ?? '', encoding: 'utf8', env: this.env(opts.env), maxBuffer: 64 << 20 });
    return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
  }

  /** Runs the command and expects exit 0; returns stdout parsed as JSON when `--json` is among the args. */
  ok(args: string[], opts: { input?: string; env?: Record<string, string | undefined> } = {}): any {
    const r = this.cli(args, opts);
    if (r.code !== 0) throw new Error(`rewards ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    return args.includes('--json') ? JSON.parse(r.stdout) : r;
  }

  /** `bin/rewards ARGS` started, not awaited (for tests that signal it or hold it). */
  spawn(args: string[], stdio: 'pipe' | 'ignore' = 'pipe'): ChildProcess {
    return spawn(BIN, args, { cwd: this.dir, env: this.env(), stdio });
  }

  /** Writes events as an NDJSON export and ingests it through the CLI; no row may be rejected. */
  ingest(events: Ev[]): void {
    const file = join(this.dir, `events-${++this.inputs}.ndjson`);
    writeFileSync(file, events.map((e) => JSON.stringify(e)).join('\n') + '\n');
    const r = this.ok(['--json', 'ingest', file]);
    if (r.totals.rejected !== 0) throw new Error(`ingest rejected rows: ${JSON.stringify(r)}`);
  }

  /** Ingests members with only a user id and a partner. */
  ingestMembers(members: { user_id: string; partner?: string }[]): void {
    const file = join(this.dir, `members-${++this.inputs}.csv`);
    writeFileSync(file, 'user_id,partner\n' + members.map((m) => `${m.user_id},${m.partner ?? ''}`).join('\n') + '\n');
    this.ok(['--json', 'ingest', '--kind', 'members', file]);
  }

  run(asOf: string, ...more: string[]): any {
    return this.ok(['--json', 'run', '--as-of', asOf, ...more]);
  }

  /** Moves demo event files (by name filter) from the fixture into this inbox: "the next export arrives". */
  deliverInbox(filter: (name: string) => boolean): string[] {
    const names = readdirSync(join(DEMO, 'inbox/events')).filter(filter).sort();
    for (const n of names) cpSync(join(DEMO, 'inbox/events', n), join(this.dir, 'inbox/events', n));
    return names;
  }

  query<T = any>(sql: string, ...params: unknown[]): T[] {
    const db = new Database(this.db, { readonly: true, fileMustExist: true });
    try {
      return db.prepare(sql).all(...params) as T[];
    } finally {
      db.close();
    }
  }

  exec(sql: string): void {
    const db = new Database(this.db, { fileMustExist: true });
    try {
      db.exec(sql);
    } finally {
      db.close();
    }
  }

  grants(): GrantRow[] {
    if (!existsSync(this.db)) return [];
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

  /** A file of the grants folder, by name, as text. */
  grantFile(name: string): string {
    return readFileSync(join(this.grantsDir, name), 'utf8');
  }

  /** A file of the workspace (a path relative to it, or absolute), as text. */
  read(path: string): string {
    return readFileSync(isAbsolute(path) ? path : join(this.dir, path), 'utf8');
  }

  /** Every path under a folder of the workspace, relative to it, sorted ([] when absent). */
  files(rel: string): string[] {
    const p = join(this.dir, rel);
    return existsSync(p) ? readdirSync(p, { recursive: true }).map(String).sort() : [];
  }

  isDir(rel: string): boolean {
    return existsSync(join(this.dir, rel)) && statSync(join(this.dir, rel)).isDirectory();
  }

  mkdir(rel: string): string {
    const p = join(this.dir, rel);
    mkdirSync(p, { recursive: true });
    return p;
  }

  /**
   * Everything a night produces, without what legitimately differs between two equal nights
   * (timestamps, manifests' generation time): for comparing a killed-and-rerun night with its twin.
   */
  fingerprint() {
    const dataFiles = ['members.csv', 'grants.csv', 'activity.csv', 'summary.csv'];
    const exports: Record<string, string> = {};
    for (const partner of this.files('out/outbox').filter((f) => !f.includes('/'))) {
      for (const asOf of readdirSync(join(this.dir, 'out/outbox', partner)).filter((d) => !d.startsWith('.'))) {
        for (const f of dataFiles) exports[`${partner}/${asOf}/${f}`] = this.read(`out/outbox/${partner}/${asOf}/${f}`);
        exports[`${partner}/${asOf}/_SUCCESS`] = existsSync(join(this.dir, 'out/outbox', partner, asOf, '_SUCCESS')) ? 'yes' : 'no';
      }
    }
    const grantFiles: Record<string, string> = {};
    for (const f of this.files('out/grants')) grantFiles[f] = this.read(`out/grants/${f}`);
    return {
      events: this.query('SELECT event_id, user_id, event_type, local_date, properties FROM events ORDER BY event_id'),
      daily: this.query('SELECT * FROM daily_activity ORDER BY user_id, event_type, local_date'),
      members: this.query('SELECT user_id, partner, share_consent FROM members ORDER BY user_id'),
      rejects: this.query('SELECT b.name, r.line, r.reason FROM rejects r JOIN batches b USING (batch_id) ORDER BY b.name, r.line'),
      batches: this.query(`SELECT name, sha256, status, rows, inserted, duplicates, conflicts, rejected FROM batches WHERE status = 'complete' ORDER BY name`),
      grants: this.query('SELECT * FROM grants ORDER BY grant_id'),
      runs: this.query('SELECT run_id, as_of, status, grants, amount_cents, over_budget, file_sha256 FROM runs ORDER BY run_id'),
      exports: this.query('SELECT partner_id, as_of, members, rows FROM exports GROUP BY partner_id, as_of ORDER BY partner_id, as_of'),
      nightly: this.query('SELECT as_of, status, exit_code FROM nightly_runs ORDER BY nightly_id'),
      inbox: this.files('inbox'),
      archive: this.files('archive'),
      grantFiles,
      exportFiles: exports,
    };
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A workspace with this config (the export suites' shorthand). */
export function makeWs(config: unknown, prefix = 'rewards-export-'): Workspace {
  return new Workspace({ prefix, config });
}

/** The pseudonym as the README defines it, computed independently of src/. */
export const hmac = (key: string, userId: string) => createHmac('sha256', Buffer.from(key, 'utf8')).update(Buffer.from(userId, 'utf8')).digest('hex');

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

export interface MemberIn {
  user_id: string;
  email?: string;
  first_name?: string;
  last_name?: string;
  birth_date?: string;
  zip?: string;
  state?: string;
  partner?: string;
  share_consent?: boolean;
}

export async function loadMembers(ws: Workspace, members: MemberIn[], name = 'members.csv'): Promise<void> {
  const file = join(ws.dir, name);
  const header = ['user_id', 'email', 'first_name', 'last_name', 'birth_date', 'zip', 'state', 'partner', 'share_consent'];
  writeFileSync(
    file,
    stringify([
      header,
      ...members.map((m) => [m.user_id, m.email, m.first_name, m.last_name, m.birth_date, m.zip, m.state, m.partner, m.share_consent ? 'true' : 'false'].map((v) => v ?? '')),
    ]),
  );
  const r = await ws.cli(['ingest', '--kind', 'members', '--quiet', file]);
  if (r.code !== 0) throw new Error(`members ingest failed (${r.code}): ${r.stderr}`);
}

export interface EventIn {
  user_id: string;
  event_type: string;
  /** YYYY-MM-DD: the event happens around noon UTC that day (each at its own second: no two are duplicates). */
  date: string;
}

export async function loadEvents(ws: Workspace, events: EventIn[], name = 'events.csv'): Promise<void> {
  const file = join(ws.dir, name);
  writeFileSync(
    file,
    stringify([
      ['user_id', 'event_type', 'occurred_at'],
      ...events.map((e, i) => [e.user_id, e.event_type, `${e.date}T12:${String(Math.floor(i / 60) % 60).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}Z`]),
    ]),
  );
  const r = await ws.cli(['ingest', '--quiet', '--max-reject-rate', '0', file]);
  if (r.code !== 0) throw new Error(`events ingest failed (${r.code}): ${r.stderr}`);
}

export interface GrantIn {
  campaign_id: string;
  rule_id: string;
  user_id: string;
  seq?: number;
  reward_code: string;
  amount_cents: number;
  currency?: string;
  earned_on: string;
}

/** Records grants the way `rewards run` does (a complete run row, then its grants), in one transaction. */
export function insertGrants(ws: Workspace, grants: GrantIn[], asOf = '2026-04-30'): void {
  const db = new Database(ws.db);
  try {
    db.pragma('foreign_keys = ON');
    db.transaction(() => {
      const total = grants.reduce((n, g) => n + g.amount_cents, 0);
      const run = db
        .prepare(
          `INSERT INTO runs (as_of, started_at, finished_at, status, grants, amount_cents, over_budget, file, file_sha256, events_watermark, summary)
           VALUES (?, ?, ?, 'complete', ?, ?, 0, ?, NULL, 0, '{}')`,
        )
        .run(asOf, '2026-05-01T00:00:00Z', '2026-05-01T00:00:01Z', grants.length, total, join(ws.dir, 'grants-test.csv'));
      const ins = db.prepare(
        `INSERT INTO grants (grant_id, run_id, campaign_id, rule_id, user_id, seq, reward_code, amount_cents, currency, earned_on)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      const seqs = new Map<string, number>();
      for (const g of grants) {
        const k = `${g.campaign_id}/${g.rule_id}/${g.user_id}`;
        const seq = g.seq ?? (seqs.get(k) ?? 0) + 1;
        seqs.set(k, seq);
        ins.run(`test-${k}-${seq}`, run.lastInsertRowid, g.campaign_id, g.rule_id, g.user_id, seq, g.reward_code, g.amount_cents, g.currency ?? 'USD', g.earned_on);
      }
    })();
  } finally {
    db.close();
  }
}

/** Every regular file under a folder (links followed, hidden folders included), path -> bytes. */
export function allFiles(root: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = lstatSync(p);
      if (st.isSymbolicLink()) {
        const real = realpathSync(p);
        if (lstatSync(real).isDirectory()) continue; // its target is walked under its own name
        out.set(p, readFileSync(real));
      } else if (st.isDirectory()) walk(p);
      else out.set(p, readFileSync(p));
    }
  };
  if (existsSync(root)) walk(root);
  return out;
}

export function readCsv(path: string): string[][] {
  const text = readFileSync(path, 'utf8');
  // The export's CSV never needs quoting in these tests except where a test says so; split simply.
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split(','));
}

/** `sha256sum -c --strict SHA256SUMS` in a folder: exit code and output. */
export function sha256sumCheck(dir: string): { code: number | null; out: string } {
  const r = spawnSync('sha256sum', ['-c', '--strict', 'SHA256SUMS'], { cwd: dir, encoding: 'utf8' });
  return { code: r.status, out: r.stdout + r.stderr };
}

/** A grant file's data rows as objects keyed by its header. No quoting is needed for these values. */
export function parseGrantFile(text: string): { header: string[]; rows: Record<string, string>[] } {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const header = lines[0]!.split(',');
  return { header, rows: lines.slice(1).map((l) => Object.fromEntries(l.split(',').map((v, i) => [header[i]!, v]))) };
}

export const GRANT_HEADER = 'grant_id,run_id,campaign_id,rule_id,user_id,seq,reward_code,amount_cents,currency,earned_on';
