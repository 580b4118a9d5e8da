/**
 * A throw-away workspace for the export tests: a temp folder with a config, members and events
 * loaded through `bin/rewards ingest`, and grants written straight into the database (the cell sizes
 * the suppression tests need are easier to state as grants than as event histories that earn them).
 */
import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'csv-stringify/sync';
import { type CliResult, KEYS, runCli, tempDir } from '../helpers.js';

export { KEYS };

/** The pseudonym as the README defines it, computed independently of src/. */
export const hmac = (key: string, userId: string) => createHmac('sha256', Buffer.from(key, 'utf8')).update(Buffer.from(userId, 'utf8')).digest('hex');

export interface Ws {
  dir: string;
  db: string;
  configPath: string;
  outbox: string;
  cli(args: string[], env?: Record<string, string | undefined>): Promise<CliResult>;
  /** `<outbox>/<partner>/<asOf>` */
  exportDir(partner: string, asOf: string): string;
}

export function makeWs(config: unknown, prefix = 'rewards-export-'): Ws {
  const dir = tempDir(prefix);
  const db = join(dir, 'rewards.db');
  const configPath = join(dir, 'rewards.config.json');
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  return {
    dir,
    db,
    configPath,
    outbox: join(dir, 'out', 'outbox'),
    cli: (args, env = {}) => runCli(['--db', db, '--config', configPath, ...args], { cwd: dir, env: { ...KEYS, ...env }, timeoutMs: 120_000 }),
    exportDir: (partner, asOf) => join(dir, 'out', 'outbox', partner, asOf),
  };
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

export async function ingestMembers(ws: Ws, members: MemberIn[], name = 'members.csv'): Promise<void> {
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

export async function ingestEvents(ws: Ws, events: EventIn[], name = 'events.csv'): Promise<void> {
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
export function insertGrants(ws: Ws, grants: GrantIn[], asOf = '2026-04-30'): void {
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
