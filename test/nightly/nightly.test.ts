import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { Workspace } from '../workspace.js';

const workspaces: Workspace[] = [];
function ws(inbox?: (name: string) => boolean): Workspace {
  const w = new Workspace({ demo: inbox ?? true, prefix: 'rewards-nightly-' });
  workspaces.push(w);
  return w;
}
afterEach(() => {
  while (workspaces.length) workspaces.pop()!.cleanup();
});

const upTo = (day: number) => (name: string) => Number(/2026-03-(\d\d)/.exec(name)![1]) <= day;

describe('rewards nightly', () => {
  it('runs a full night: inbox to archive, one grant file, due exports, a recorded night, exit 0', () => {
    const w = ws();
    const r = w.cli(['--json', 'nightly', '--as-of', '2026-03-31']);
    // globex gets month precision (not Safe Harbor): the one thing a good night says on stderr.
    expect(r.stderr).toBe(
      'rewards: export globex 2026-03-31: not HIPAA Safe Harbor (date precision finer than a year); it needs an expert determination before it is shared\n',
    );
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.status).toBe('ok');
    expect(s.dates).toEqual(['2026-03-31']);
    expect(s.ingest).toMatchObject({ files: 32, ingested: 32, skipped: 0, failed: 0, rejected: 1 });
    expect(s.steps.map((x: { step: string; ok: boolean }) => `${x.step}:${x.ok}`)).toEqual(['ingest:true', 'run:true', 'export:true', 'deliver:true', 'prune:true']);
    // globex is daily.
    // acme (Safe Harbor) exports yearly, as of December 31st: not due as of 2026-03-31.
    expect(s.exports.map((e: { partner: string; status: string }) => `${e.partner}:${e.status}`)).toEqual(['globex:written']);
    expect(w.files('inbox')).toEqual(['events', 'members']);
    expect(w.files('archive/2026-03-31')).toHaveLength(32);
    const runs = w.query<{ as_of: string; grants: number; status: string }>('SELECT as_of, grants, status FROM runs');
    expect(runs).toHaveLength(1);
    expect(runs[0]!.status).toBe('complete');
    expect(runs[0]!.grants).toBeGreaterThan(50);
    expect(w.files('out/grants')).toEqual(['grants-2026-03-31-1.csv', 'grants-2026-03-31-1.csv.sha256']);
    expect(w.read('out/grants/grants-2026-03-31-1.csv').trim().split('\n')).toHaveLength(runs[0]!.grants + 1);
    expect(w.files('out/outbox/globex/2026-03-31')).toContain('_SUCCESS');
    expect(w.query('SELECT as_of, status, exit_code FROM nightly_runs')).toEqual([{ as_of: '2026-03-31', status: 'ok', exit_code: 0 }]);

    const st = w.cli(['--json', 'status']);
    expect(st.code).toBe(0);
    const status = JSON.parse(st.stdout);
    expect(status.last_nightly).toMatchObject({ as_of: '2026-03-31', status: 'ok', exit_code: 0 });
    expect(status.inbox_waiting).toEqual({ members: [], events: [] });
    expect(status.grant_files[0]).toMatchObject({ as_of: '2026-03-31', grants: runs[0]!.grants, present: true });
    expect(status.exports.map((e: { partner_id: string }) => e.partner_id)).toEqual(['globex']);
    // The phase as of yesterday in the config's zone (the date report takes by default), long after March.
    expect(status.campaigns).toEqual([{ id: 'spring-2026', start: '2026-03-01', end: '2026-03-31', as_of: expect.stringMatching(/^20\d\d-\d\d-\d\d$/), phase: 'closed' }]);
  });

  it('a second night only adds: new file ingested, earlier grants and exports untouched, nothing repeated', () => {
    const w = ws(upTo(20));
    expect(w.cli(['nightly', '--as-of', '2026-03-20']).code).toBe(0);
    const grants1 = w.query('SELECT * FROM grants ORDER BY grant_id');
    const globex1 = w.read('out/outbox/globex/2026-03-20/grants.csv');
    w.deliverInbox((n) => n.includes('2026-03-21'));
    const r = w.cli(['--json', 'nightly', '--as-of', '2026-03-21']);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.ingest.files).toBe(1);
    expect(s.dates).toEqual(['2026-03-21']);
    expect(s.exports).toEqual([{ partner: 'globex', as_of: '2026-03-21', status: 'written', dir: expect.stringContaining('globex/2026-03-21'), safe_harbor: false }]);
    const grants2 = w.query('SELECT * FROM grants ORDER BY grant_id');
    for (const g of grants1) expect(grants2).toContainEqual(g);
    expect(w.read('out/outbox/globex/2026-03-20/grants.csv')).toBe(globex1);
    expect(w.files('out/grants').filter((f) => f.endsWith('.csv'))).toEqual(['grants-2026-03-20-1.csv', 'grants-2026-03-21-2.csv']);

    // The same night again: nothing new anywhere.
    const again = JSON.parse(w.cli(['--json', 'nightly', '--as-of', '2026-03-21']).stdout);
    expect(again.ingest.files).toBe(0);
    expect(again.runs).toEqual([{ as_of: '2026-03-21', run_id: 2, grants: 0, amount_cents: 0, file: expect.stringContaining('grants-2026-03-21-2.csv') }]);
    expect(again.exports).toEqual([{ partner: 'globex', as_of: '2026-03-21', status: 'exists' }]);
    expect(w.query('SELECT count(*) AS n FROM runs')).toEqual([{ n: 2 }]);
  });

  it('catches up missed nights in order, and --no-catch-up does not', () => {
    const w = ws(upTo(25));
    expect(w.cli(['nightly', '--as-of', '2026-03-25']).code).toBe(0);
    w.deliverInbox((n) => /2026-03-(2[6-9]|3[01])/.test(n));
    const s = JSON.parse(w.cli(['--json', 'nightly', '--as-of', '2026-03-28']).stdout);
    expect(s.dates).toEqual(['2026-03-26', '2026-03-27', '2026-03-28']);
    expect(w.query('SELECT as_of FROM runs ORDER BY run_id').map((r) => r.as_of)).toEqual(['2026-03-25', '2026-03-26', '2026-03-27', '2026-03-28']);
    expect(s.exports.filter((e: { partner: string }) => e.partner === 'globex').map((e: { as_of: string }) => e.as_of)).toEqual(['2026-03-26', '2026-03-27', '2026-03-28']);
    const st = JSON.parse(w.cli(['--json', 'status']).stdout);
    expect(st.last_nightly).toMatchObject({ as_of: '2026-03-28', status: 'ok', exit_code: 0 });
    expect(st.grant_files.map((g: { as_of: string }) => g.as_of)).toEqual(['2026-03-28', '2026-03-27', '2026-03-26', '2026-03-25']);
    expect(st.inbox_waiting.events).toEqual([]);
    const n = JSON.parse(w.cli(['--json', 'nightly', '--as-of', '2026-03-31', '--no-catch-up']).stdout);
    expect(n.dates).toEqual(['2026-03-31']);
    expect(w.query(`SELECT count(*) AS n FROM runs WHERE as_of IN ('2026-03-29', '2026-03-30')`)).toEqual([{ n: 0 }]);
  });

  it('a failed file stays in the inbox, the rest runs, exit 65', () => {
    const w = ws(upTo(3));
    spawnSync('sh', ['-c', `head -c 300 ${w.dir}/inbox/events/events-2026-03-03.ndjson.gz > ${w.dir}/inbox/events/broken.ndjson.gz`]);
    const r = w.cli(['--json', 'nightly', '--as-of', '2026-03-03']);
    expect(r.code).toBe(65);
    const s = JSON.parse(r.stdout);
    expect(s.status).toBe('partial');
    expect(s.ingest.failed).toBe(1);
    expect(r.stderr).toMatch(/broken\.ndjson\.gz: corrupt or truncated gzip/);
    expect(w.files('inbox/events')).toEqual(['broken.ndjson.gz']);
    const st = JSON.parse(w.cli(['--json', 'status']).stdout);
    expect(st.last_nightly).toMatchObject({ as_of: '2026-03-03', status: 'partial', exit_code: 65 });
    expect(st.inbox_waiting.events).toEqual([expect.stringContaining('broken.ndjson.gz')]);
    expect(st.batches_unfinished).toEqual([expect.objectContaining({ status: 'failed', path: expect.stringContaining('broken.ndjson.gz') })]);
    expect(s.steps.find((x: { step: string }) => x.step === 'run').ok).toBe(true);
    expect(w.query('SELECT count(*) AS n FROM runs')).toEqual([{ n: 1 }]);
  });

  it('a second nightly while one holds the lock exits 75 naming the holder', async () => {
    const w = ws(upTo(1));
    expect(w.cli(['nightly', '--as-of', '2026-03-01']).code).toBe(0);
    const holder = spawn('sleep', ['30']);
    try {
      const db = (await import('better-sqlite3')).default;
      const h = new db(w.db);
      const lockedAt = '2026-03-02T02:15:00Z';
      h.prepare(`INSERT INTO lock (id, pid, host, command, started_at) VALUES (1, ?, ?, 'nightly', ?)`).run(holder.pid, (await import('node:os')).hostname(), lockedAt);
      h.close();
      const r = w.cli(['nightly', '--as-of', '2026-03-02']);
      expect(r.code).toBe(75);
      expect(r.stderr).toContain(`pid ${holder.pid}`);
      expect(r.stderr).toContain(`started ${lockedAt}`);
    } finally {
      holder.kill('SIGKILL');
    }
    // The holder is gone: its stale lock is taken over.
    await new Promise((res) => setTimeout(res, 100));
    expect(w.cli(['nightly', '--as-of', '2026-03-02']).code).toBe(0);
  });

  it('a nightly killed at several points and rerun ends like an uninterrupted twin', async () => {
    const twin = ws();
    expect(twin.cli(['nightly', '--as-of', '2026-03-31']).code).toBe(0);
    const expected = twin.fingerprint();

    // Kill points: during the ingest (a few files archived, most archived), right after it, once the
    // grant file exists, once the first export folder exists, and at a fixed delay.
    const killPoints: [string, (w: Workspace) => boolean][] = [
      ['3 files archived', (w) => w.files('archive/2026-03-31').length >= 3],
      ['20 files archived', (w) => w.files('archive/2026-03-31').length >= 20],
      ['inbox empty', (w) => w.files('inbox/events').length === 0],
      ['grant file written', (w) => w.files('out/grants').length > 0],
      ['export started', (w) => w.files('out/outbox').length > 0],
    ];
    const interrupted: string[] = [];
    for (const [label, when] of killPoints) {
      const w = ws();
      const child = w.spawn(['nightly', '--as-of', '2026-03-31'], 'ignore');
      let done = false;
      const exited = new Promise((res) => child.once('exit', () => res((done = true))));
      while (!done && !when(w)) await new Promise((res) => setTimeout(res, 2));
      child.kill('SIGKILL');
      await exited;
      interrupted.push(`${label}: ${w.files('archive/2026-03-31').length} archived, ${w.files('out/grants').length} grant files`);
      const r = w.cli(['nightly', '--as-of', '2026-03-31']);
      expect(r.code, r.stderr).toBe(0);
      const got = w.fingerprint();
      expect(got.grants).toEqual(expected.grants);
      expect(got.runs).toEqual(expected.runs);
      expect(got.grantFiles).toEqual(expected.grantFiles);
      expect(got.events).toEqual(expected.events);
      expect(got.daily).toEqual(expected.daily);
      expect(got.rejects).toEqual(expected.rejects);
      expect(got.batches).toEqual(expected.batches);
      expect(got.exportFiles).toEqual(expected.exportFiles);
      expect(got.exports).toEqual(expected.exports);
      expect(got.inbox).toEqual(expected.inbox);
      expect(got.archive).toEqual(expected.archive);
      expect(got.nightly).toEqual(expected.nightly);
      w.cleanup();
    }
    // The kills must have landed inside the night, not only before or after it.
    expect(interrupted.some((s) => /: ([1-9]|[12]\d|3[01]) archived/.test(s)), interrupted.join('; ')).toBe(true);
  }, 180_000);
});

describe('rewards prune', () => {
  it('deletes old events of closed campaigns, keeps what an open campaign still needs, never the rollup or grants', () => {
    const w = ws(upTo(10));
    expect(w.cli(['nightly', '--as-of', '2026-03-10']).code).toBe(0);
    const cfg = JSON.parse(w.read('rewards.config.json'));
    const events = w.query<{ n: number }>('SELECT count(*) AS n FROM events')[0]!.n;
    const daily = w.query<{ n: number }>('SELECT count(*) AS n FROM daily_activity')[0]!.n;
    const grants = w.query<{ n: number }>('SELECT count(*) AS n FROM grants')[0]!.n;

    // An open campaign (ending far in the future) holds the cutoff back at its start.
    cfg.retention = { events_days: 1 };
    cfg.campaigns[0].end = '2099-12-31';
    fs.writeFileSync(w.configPath, JSON.stringify(cfg));
    const held = JSON.parse(w.cli(['--json', 'prune', '--dry-run']).stdout);
    // Only events dated before the campaign's start (late-evening UTC times of 1 March in US zones) may go.
    const before = w.query<{ n: number }>(`SELECT count(*) AS n FROM events WHERE local_date < '2026-03-01'`)[0]!.n;
    expect(before).toBeGreaterThan(0);
    expect(held).toMatchObject({ dry_run: true, events_before: '2026-03-01', held_back_by: 'spring-2026', deleted: { events: before, rejects: 0 } });

    // Once the campaign is closed, the events go; the rollup and grants stay.
    cfg.campaigns[0].end = '2026-03-31';
    fs.writeFileSync(w.configPath, JSON.stringify(cfg));
    // All of them but the most recently stored one: its seq must stay the highest, or the next ingest
    // would reuse seqs at or below the watermarks runs recorded.
    const lastSeq = w.query<{ s: number }>('SELECT max(seq) AS s FROM events')[0]!.s;
    const dry = JSON.parse(w.cli(['--json', 'prune', '--dry-run']).stdout);
    expect(dry.deleted.events).toBe(events - 1);
    expect(w.query<{ n: number }>('SELECT count(*) AS n FROM events')[0]!.n).toBe(events);
    const done = JSON.parse(w.cli(['--json', 'prune']).stdout);
    expect(done.deleted.events).toBe(events - 1);
    expect(w.query<{ s: number }>('SELECT seq AS s FROM events')).toEqual([{ s: lastSeq }]);
    expect(w.query<{ n: number }>('SELECT count(*) AS n FROM daily_activity')[0]!.n).toBe(daily);
    expect(w.query<{ n: number }>('SELECT count(*) AS n FROM grants')[0]!.n).toBe(grants);
    const st = JSON.parse(w.cli(['--json', 'status']).stdout);
    expect(st.last.prune).toMatchObject({ events_deleted: events - 1, rejects_deleted: 0 });

    // Pruned days cannot come back: the rollup already counts them.
    const again = w.cli(['--json', 'ingest', '--force', '--max-reject-rate', '1', `archive/2026-03-10/events-2026-03-01.csv`]);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout).totals).toMatchObject({ inserted: 0 });
    expect(w.query<{ n: number }>('SELECT count(*) AS n FROM daily_activity')[0]!.n).toBe(daily);
    const reasons = w.cli(['rejects']).stdout;
    expect(reasons).toMatch(/occurred_at: local date 2026-03-0\d is before 2026-\d\d-\d\d, the date events were pruned up to/);
  });
});
