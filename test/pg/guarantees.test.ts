/**
 * The guarantees on a real PostgreSQL server: migrations applied once and recorded; the writer lock
 * an advisory lock that a second writer meets (75, naming the holder from pg_stat_activity) and that
 * dies with its session; kill -9 during an ingest and during a run, then a rerun, ends as an
 * uninterrupted twin; a password in the URL is never shown; an unreachable server is 69.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, DEMO, runCli } from '../helpers.js';
import { Workspace } from '../workspace.js';
import { generateMessyEvents } from '../generate.js';
import { PG_BIN, PG_HOWTO, TestPostgres } from './cluster.js';

if (!PG_BIN) console.warn(`skipping the PostgreSQL guarantee tests: ${PG_HOWTO}`);

/** Every table as rows, but the columns that hold times or absolute paths. */
const TABLES: Record<string, string> = {
  events: 'seq, event_id, user_id, event_type, occurred_at, timezone, local_date, properties, content_hash, batch_id, line',
  daily_activity: 'user_id, event_type, local_date, events',
  source_activity: 'source_id, user_id, local_date, events',
  activity_sources: 'source_id, source_key, watermark',
  members: 'user_id, email, birth_date, zip, state, partner, share_consent, batch_id, line',
  rejects: 'batch_id, line, raw, reason',
  batches: 'batch_id, kind, name, sha256, status, rows, inserted, duplicates, conflicts, rejected, extra_columns, records_done, error',
  runs: 'run_id, as_of, status, grants, amount_cents, over_budget, file_sha256, events_watermark, summary',
  grants: 'grant_id, run_id, campaign_id, rule_id, user_id, seq, reward_code, amount_cents, currency, earned_on',
  campaign_state: 'campaign_id, fingerprint, last_as_of, events_watermark, members_watermark, over_budget',
  campaign_over_budget: 'campaign_id, rule_id, user_id, seq, earned_on',
};

function dump(pg: TestPostgres, db: string): Record<string, string> {
  return Object.fromEntries(Object.entries(TABLES).map(([t, cols]) => [t, pg.psql(db, `SELECT ${cols} FROM ${t} ORDER BY ${cols}`)]));
}

describe.skipIf(!PG_BIN)('PostgreSQL: the guarantees hold on a real server', () => {
  const pg = new TestPostgres();
  beforeAll(() => pg.start());
  afterAll(() => pg.stop());

  it('applies its migrations once, records them, and answers read-only commands on an empty database with 66', async () => {
    const ws = new Workspace({ prefix: 'rewards-pg-migrate-', demo: true, db: pg.createDatabase('migrate') });
    const empty = ws.cli(['status']);
    expect(empty.code, empty.stderr).toBe(66);
    expect(empty.stderr).toMatch(/^rewards: postgres:\/\/rewards@localhost\/migrate\?host=.*: this database has no rewards tables yet; run `rewards ingest` first/);
    ws.ok(['ingest', '--kind', 'members', join(ws.dir, 'inbox/members/members-2026-03-20.csv')]);
    ws.ok(['ingest', join(ws.dir, 'inbox/events/events-2026-03-01.csv')]);
    expect(pg.psql('migrate', 'SELECT version, name FROM schema_migrations ORDER BY version')).toBe('1\t001_schema.sql\n2\t002_views.sql\n');
    expect(pg.psql('migrate', 'SELECT count(*) FROM members')).toBe('60\n');
    // Analysts query it with psql: the columns the README documents.
    expect(pg.psql('migrate', "SELECT count(*) FROM information_schema.columns WHERE table_name = 'events'")).toBe('11\n');
    ws.cleanup();
  });

  it('a second writer exits 75 naming the holder; the lock dies with a killed holder\'s session', async () => {
    const ws = new Workspace({ prefix: 'rewards-pg-lock-', demo: true, db: pg.createDatabase('locking') });
    const file = join(ws.dir, 'big.csv');
    await generateMessyEvents(file, 20_000);
    // The holder stops itself (SIGSTOP) in the middle of its load: lock held, transaction open.
    const holder = spawn(BIN, ['ingest', file], {
      cwd: ws.dir,
      env: ws.env({ REWARDS_CRASH_AT: 'ingest:chunk#20', REWARDS_CRASH_SIGNAL: 'SIGSTOP', REWARDS_INGEST_WORKER: 'off' }),
      stdio: 'ignore',
    });
    const exited = once(holder, 'exit');
    await until(() => processState(holder.pid!) === 'T', 'the holder to stop itself');
    const second = ws.cli(['ingest', '--kind', 'members', join(ws.dir, 'inbox/members/members-2026-03-20.csv')]);
    expect(second.code, second.stderr).toBe(75);
    expect(second.stderr).toMatch(
      new RegExp(`^rewards: another rewards process holds the lock on postgres://rewards@localhost/locking\\?host=\\S+: \`rewards ingest \\(pid ${holder.pid} on [^)]+\\)\`, server process \\d+ as rewards, connected \\d{4}-\\d\\d-\\d\\dT[\\d:]+Z; retry when it has finished\n$`),
    );
    // kill -9: the server ends the session, and the lock and the open transaction go with it.
    holder.kill('SIGKILL');
    await exited;
    await until(() => pg.psql('locking', "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'rewards ingest%'").trim() === '0', 'the session to end');
    expect(pg.psql('locking', 'SELECT count(*) FROM events')).toBe('0\n');
    const third = ws.cli(['--json', 'ingest', '--kind', 'members', join(ws.dir, 'inbox/members/members-2026-03-20.csv')]);
    expect(third.code, third.stderr).toBe(0);
    ws.cleanup();
  });

  it('kill -9 during an ingest and during a run, then a rerun: the same tables and files as an uninterrupted twin', async () => {
    const twin = new Workspace({ prefix: 'rewards-pg-twin-', demo: true, db: pg.createDatabase('twin') });
    const killed = new Workspace({ prefix: 'rewards-pg-killed-', demo: true, db: pg.createDatabase('killed') });
    // Two files: the second repeats most of the first (duplicates across files) and adds more.
    const file = join(twin.dir, 'big.csv');
    const more = join(twin.dir, 'more.csv');
    await generateMessyEvents(file, 20_000);
    await generateMessyEvents(more, 30_000);
    const small = { REWARDS_INGEST_COMMIT_EVERY: '5000' };
    const steps = (ws: Workspace, crash: (point: string) => Record<string, string>) => {
      const members = join(ws.dir, 'inbox/members/members-2026-03-20.csv');
      const demoEvents = readdirSync(join(DEMO, 'inbox/events')).map((n) => join(ws.dir, 'inbox/events', n));
      return [
        { args: ['ingest', '--kind', 'members', members], env: {} },
        { args: ['ingest', file], env: { ...small, ...crash('ingest:window#2') } },
        { args: ['ingest', more], env: { ...small, ...crash('ingest:chunk#150') } },
        { args: ['ingest', ...demoEvents], env: {} },
        { args: ['run', '--as-of', '2026-03-20'], env: crash('run:committed') },
        { args: ['run', '--as-of', '2026-03-31'], env: crash('run:file-written') },
      ];
    };
    for (const s of steps(twin, () => ({}))) twin.ok(s.args, { env: s.env });
    for (const s of steps(killed, (point) => ({ REWARDS_CRASH_AT: point }))) {
      const k = killed.cli(s.args, { env: s.env });
      if (s.env.REWARDS_CRASH_AT) {
        expect({ code: k.code, signal: k.signal }, s.env.REWARDS_CRASH_AT).toEqual({ code: null, signal: 'SIGKILL' });
        // Killed mid-load, the batch is left pending at a window boundary for the rerun to resume.
        if (s.args[0] === 'ingest') expect(pg.psql('killed', 'SELECT status, records_done % 5000 FROM batches ORDER BY batch_id DESC LIMIT 1')).toBe('pending\t0\n');
        killed.ok(s.args, { env: small });
      } else {
        expect(k.code, k.stderr).toBe(0);
      }
    }
    expect(dump(pg, 'killed')).toEqual(dump(pg, 'twin'));
    const grants = (ws: Workspace) => Object.fromEntries(ws.grantFiles().map((f) => [f, readFileSync(join(ws.grantsDir, f), 'utf8')]));
    expect(grants(killed)).toEqual(grants(twin));
    expect(Object.keys(grants(twin)).length).toBe(4);
    twin.cleanup();
    killed.cleanup();
  });

  it('never shows a password given in the URL; an unreachable server is 69', async () => {
    const secret = 'hunter2-secret';
    const ws = new Workspace({ prefix: 'rewards-pg-url-', demo: true });
    const down = await runCli(['--db', `postgres://rewards:${secret}@127.0.0.1:9/nothing`, 'status'], { cwd: ws.dir });
    expect(down.code, down.stderr).toBe(69);
    expect(down.stderr).toMatch(/^rewards: postgres:\/\/rewards@127\.0\.0\.1:9\/nothing: cannot reach the PostgreSQL server \(.*\); check that it runs and that --db names it\n$/);
    const wrong = await runCli(['--db', `postgres://rewards:${secret}@localhost/nosuchdb?host=${encodeURIComponent(pg.dir)}`, 'status'], { cwd: ws.dir });
    expect(wrong.code, wrong.stderr).toBe(69);
    expect(wrong.stderr).toContain('database "nosuchdb" does not exist; create it (createdb) or fix the database name in --db');
    for (const r of [down, wrong]) expect(r.stdout + r.stderr).not.toContain(secret);
    const url = pg.createDatabase('secret').replace('rewards@', `rewards:${secret}@`);
    const ok = ws.ok(['--db', url, '--json', 'ingest', '--kind', 'members', join(ws.dir, 'inbox/members/members-2026-03-20.csv')]);
    const status = ws.cli(['--db', url, '--json', 'status']);
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.stringify(ok) + status.stdout + status.stderr).not.toContain(secret);
    expect(JSON.parse(status.stdout).database.path).toBe(url.replace(`:${secret}`, ''));
    ws.cleanup();
  });
});

/** A process's state letter from /proc (T: stopped). */
function processState(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return '';
  }
}

/** Waits for a condition the test cannot be told about (another process's state), up to a minute. */
async function until(ok: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
