/**
 * A nightly workspace for the CLI tests: a temp copy of fixtures/demo (config, inbox), the demo keys
 * in the environment, and the built CLI run as a child process.
 */
import Database from 'better-sqlite3';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, DEMO, KEYS } from '../helpers.js';


export class NightlyWorkspace {
  readonly dir: string;
  readonly db: string;
  readonly config: string;

  /** `inbox`: which demo event files to put in the inbox (all by default). */
  constructor(inbox: (name: string) => boolean = () => true) {
    this.dir = mkdtempSync(join(tmpdir(), 'rewards-nightly-'));
    cpSync(DEMO, this.dir, { recursive: true, filter: (src) => !src.endsWith('demo.env') });
    this.db = join(this.dir, 'rewards.db');
    this.config = join(this.dir, 'rewards.config.json');
    for (const f of readdirSync(join(this.dir, 'inbox/events'))) if (!inbox(f)) rmSync(join(this.dir, 'inbox/events', f));
  }

  env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    return { ...process.env, ...KEYS, REWARDS_DB: this.db, REWARDS_CONFIG: this.config, ...extra };
  }

  cli(args: string[], env: Record<string, string> = {}) {
    const r = spawnSync(BIN, args, { cwd: this.dir, encoding: 'utf8', env: this.env(env) });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  spawn(args: string[]): ChildProcess {
    return spawn(BIN, args, { cwd: this.dir, env: this.env(), stdio: 'ignore' });
  }

  /** Moves demo event files (by name filter) from the fixture into this inbox: "the next export arrives". */
  deliver(filter: (name: string) => boolean): string[] {
    const names = readdirSync(join(DEMO, 'inbox/events')).filter(filter).sort();
    for (const n of names) cpSync(join(DEMO, 'inbox/events', n), join(this.dir, 'inbox/events', n));
    return names;
  }

  query<T = Record<string, unknown>>(sql: string, ...params: unknown[]): T[] {
    const db = new Database(this.db, { readonly: true, fileMustExist: true });
    try {
      return db.prepare(sql).all(...params) as T[];
    } finally {
      db.close();
    }
  }

  files(rel: string): string[] {
    const p = join(this.dir, rel);
    return existsSync(p) ? readdirSync(p, { recursive: true }).map(String).sort() : [];
  }

  read(rel: string): string {
    return readFileSync(join(this.dir, rel), 'utf8');
  }

  isDir(rel: string): boolean {
    return existsSync(join(this.dir, rel)) && statSync(join(this.dir, rel)).isDirectory();
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
