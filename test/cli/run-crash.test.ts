// A `rewards run` killed with SIGKILL at any moment is repaired by the next run: the database (grants,
// runs and their counts) and the grant files (names and bytes) end equal to those of an uninterrupted
// twin, and every grant is in exactly one file. First the exact crash states, made by hand; then real
// kill -9 of runs over a larger generated data set, at each of a run's steps.
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { BIN } from '../helpers.js';
import { dates, ev, type Ev, parseGrantFile, reward, Workspace } from '../workspace.js';

vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 });

const spring = (budget_cents?: number) => ({
  timezone: 'America/New_York',
  paths: { grants: 'out/grants' },
  campaigns: [
    {
      id: 'spring-2026',
      name: 'Spring engagement',
      start: '2026-03-01',
      end: '2026-05-31',
      grace_days: 7,
      eligible_partners: ['acme'],
      ...(budget_cents === undefined ? {} : { budget_cents }),
      rules: [
        { id: 'birth', type: 'first_event', event_type: 'birth_reported', reward: reward('GIFT-25', 2500) },
        { id: 'five-days', type: 'streak', event_type: 'data_logged', days: 5, repeat: true, max_per_user: 3, reward: reward('GIFT-5', 500) },
        { id: 'active-8-of-10', type: 'active_days', event_type: 'data_logged', min_days: 8, window_days: 10, where: { source: ['app', 'watch'] }, reward: reward('GIFT-10', 1000) },
        { id: 'ten-symptoms', type: 'event_count', event_type: 'symptom_logged', min_events: 10, reward: reward('GIFT-3', 300) },
      ],
    },
  ],
});

const dirs: Workspace[] = [];
const workspace = () => {
  const w = new Workspace('rewards-crash-');
  dirs.push(w);
  return w;
};
afterAll(() => dirs.forEach((w) => w.cleanup()));

/** Everything a run leaves behind, with paths made comparable across workspaces. */
function snapshot(ws: Workspace) {
  const runs = ws
    .query('SELECT run_id, as_of, status, grants, amount_cents, over_budget, file, file_sha256, events_watermark, summary FROM runs ORDER BY run_id')
    .map((r: any) => ({ ...r, file: basename(r.file) }));
  const files = Object.fromEntries(ws.grantFiles().map((f) => [f, ws.grantFile(f)]));
  return {
    grants: ws.grants(),
    runs,
    campaign_state: ws.query('SELECT * FROM campaign_state ORDER BY campaign_id'),
    over_budget: ws.query('SELECT * FROM campaign_over_budget ORDER BY campaign_id, user_id'),
    files,
  };
}

function expectEveryGrantInOneFile(ws: Workspace) {
  const inFiles = ws
    .grantFiles()
    .filter((f) => f.endsWith('.csv'))
    .flatMap((f) => parseGrantFile(ws.grantFile(f)).rows.map((r) => `${r.grant_id}@${r.run_id}`));
  expect(inFiles.length).toBe(new Set(inFiles).size);
  expect(inFiles.sort()).toEqual(ws.grants().map((g) => `${g.grant_id}@${g.run_id}`).sort());
  for (const f of ws.grantFiles().filter((f) => f.endsWith('.sha256'))) {
    expect(spawnSync('sha256sum', ['--quiet', '-c', f], { cwd: ws.grantsDir }).status, f).toBe(0);
  }
  expect(ws.query("SELECT count(*) AS n FROM runs WHERE status <> 'complete'")).toEqual([{ n: 0 }]);
}

describe('crash states made by hand', () => {
  const small: Ev[] = [
    ...dates('2026-03-01', 7).map((d) => ev('u1', 'data_logged', d)),
    ev('u2', 'birth_reported', '2026-03-03'),
    ...dates('2026-03-03', 5).map((d) => ev('u3', 'data_logged', d)),
  ];
  const members = ['u1', 'u2', 'u3'].map((user_id) => ({ user_id, partner: 'acme' }));

  it('after the commit and before the grant file exists; before the .sha256; with a partial temp file', () => {
    const twin = workspace();
    const victim = workspace();
    twin.writeConfig(spring());
    twin.ingestMembers(members);
    twin.ingest(small);
    victim.writeConfig(spring());
    copyDb(twin, victim);
    const crash = (w: Workspace, runId: number, remove: ('csv' | 'sha')[], tmp?: string) => {
      const { file } = w.query<{ file: string }>('SELECT file FROM runs WHERE run_id = ?', runId)[0]!;
      if (remove.includes('csv')) unlinkSync(file);
      if (remove.includes('sha')) unlinkSync(`${file}.sha256`);
      // the temp name util/atomic-file.ts writes to before the rename
      if (tmp !== undefined) writeFileSync(join(dirname(file), `.${basename(file)}.tmp`), tmp);
      w.exec(`UPDATE runs SET status = 'committed', file_sha256 = NULL, finished_at = NULL WHERE run_id = ${runId}`);
      return file;
    };

    twin.run('2026-03-05');
    victim.run('2026-03-05');
    // (a) killed after the commit, before the grant file was written: the next run (a new date) writes it
    const f1 = crash(victim, 1, ['csv', 'sha']);
    twin.run('2026-03-07');
    const r = victim.run('2026-03-07'); // the real binary once; the same code in process after
    expect(r.repaired_files).toEqual([f1]);
    expect(r.run_id).toBe(2);
    expect(snapshot(victim)).toEqual(snapshot(twin));

    // (b) killed after the CSV's rename, before the .sha256: a rerun with nothing new repairs it
    crash(victim, 2, ['sha']);
    twin.run('2026-03-07');
    expect(victim.run('2026-03-07')).toMatchObject({ grants: 0, run_id: 2 });
    expect(snapshot(victim)).toEqual(snapshot(twin));

    // (c) killed while writing: a partial temp file, no CSV; (d) killed after both files, before the run was marked complete
    const f2 = crash(victim, 2, ['csv', 'sha'], 'grant_id,run_id,campaign_id,rule_id,user_id,seq,reward_code,amount_cents,currency,earned_on\nabc');
    twin.run('2026-03-07');
    victim.run('2026-03-07');
    expect(existsSync(f2)).toBe(true);
    expect(snapshot(victim)).toEqual(snapshot(twin));
    crash(victim, 2, []);
    victim.run('2026-03-08');
    twin.run('2026-03-08');
    expect(snapshot(victim)).toEqual(snapshot(twin));
    expectEveryGrantInOneFile(victim);
  });
});

describe('a grant file that cannot be written', () => {
  it('fails the run with 73 after the commit; the next run writes the file', () => {
    const twin = workspace();
    const victim = workspace();
    const events = dates('2026-03-01', 5).map((d) => ev('u1', 'data_logged', d));
    for (const w of [twin, victim]) {
      w.writeConfig(spring());
      w.ingestMembers([{ user_id: 'u1', partner: 'acme' }]);
      w.ingest(events);
    }
    twin.run('2026-03-06');
    // A file where the grants folder should be: the folder cannot be created.
    writeFileSync(join(victim.dir, 'out'), 'not a folder');
    const r = victim.cli(['run', '--as-of', '2026-03-06']);
    expect(r.code).toBe(73);
    expect(r.stderr).toContain('grants-2026-03-06-1.csv');
    expect(victim.query('SELECT run_id, status, grants FROM runs')).toEqual([{ run_id: 1, status: 'committed', grants: 1 }]);
    unlinkSync(join(victim.dir, 'out'));
    expect(victim.run('2026-03-06')).toMatchObject({ grants: 0, run_id: 1, repaired_files: [join(victim.grantsDir, 'grants-2026-03-06-1.csv')] });
    expect(snapshot(victim)).toEqual(snapshot(twin));
    expectEveryGrantInOneFile(victim);
  });
});

// ---------------------------------------------------------------------------------------------
// Real kill -9 over a larger data set.

function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** 600 members over 25 days: about 8,000 events, deterministic. */
function dataset() {
  const r = rng(42);
  const events: string[] = [];
  const members = ['user_id,partner'];
  for (let i = 0; i < 600; i++) {
    const u = `m${String(i).padStart(4, '0')}`;
    members.push(`${u},${r() < 0.6 ? 'acme' : r() < 0.75 ? 'globex' : ''}`);
    let on = r() < 0.5;
    for (const d of dates('2026-03-01', 25)) {
      on = r() < (on ? 0.85 : 0.35);
      const out = events;
      if (on) out.push(JSON.stringify({ user_id: u, event_type: 'data_logged', occurred_at: `${d}T14:00:00Z`, properties: { source: r() < 0.8 ? 'app' : 'web' } }));
      if (r() < 0.3) out.push(JSON.stringify({ user_id: u, event_type: 'symptom_logged', occurred_at: `${d}T15:00:00Z` }));
      if (r() < 0.3) out.push(JSON.stringify({ user_id: u, event_type: 'symptom_logged', occurred_at: `${d}T16:00:00Z` }));
      if (r() < 0.003) out.push(JSON.stringify({ user_id: u, event_type: 'birth_reported', occurred_at: `${d}T17:00:00Z` }));
    }
  }
  return { events, members };
}

function copyDb(from: Workspace, to: Workspace) {
  for (const suffix of ['', '-wal', '-shm']) {
    if (existsSync(from.db + suffix)) copyFileSync(from.db + suffix, to.db + suffix);
  }
}

/** Anything in the grants folder that is not a grant file or its checksum. */
const isTemp = (f: string) => !/^grants-\d{4}-\d\d-\d\d-\d+\.csv(\.sha256)?$/.test(f);

/**
 * The points of a run where a kill -9 matters (src/util/crash-point.ts): after its grants are
 * committed, with the grant file's temp file written but not renamed, with the CSV in place and its
 * .sha256 not, and with both files written but the run not yet marked complete.
 */
const CRASH_POINTS = ['run:committed', 'durable:before-rename#1', 'durable:before-rename#2', 'run:file-written'];

/** Runs `rewards run`, killed at `point`; returns what the kill left behind. */
function killRunAt(ws: Workspace, asOf: string, point: string): string {
  const before = ws.query<{ n: number }>('SELECT coalesce(max(run_id), 0) AS n FROM runs')[0]!.n;
  const r = spawnSync(BIN, ['--db', ws.db, '--quiet', 'run', '--as-of', asOf], {
    cwd: ws.dir,
    encoding: 'utf8',
    env: { ...process.env, REWARDS_CONFIG: ws.configPath, REWARDS_CRASH_AT: point },
  });
  expect(r.signal, `${point}: ${r.stderr}`).toBe('SIGKILL');
  const left = ws.query<{ status: string }>('SELECT status FROM runs WHERE run_id > ?', before);
  if (left.length === 0) return 'before-commit';
  const tmp = ws.grantFiles().some(isTemp);
  return left[0]!.status === 'committed' ? (tmp ? 'committed+temp' : 'committed') : 'complete';
}

describe('kill -9 of real runs', () => {
  it('is repaired by the next run, whichever step it was killed at: database and grant files equal an uninterrupted twin', async () => {
    const data = dataset();
    const base = workspace();
    base.writeConfig(spring(200_000));
    writeFileSync(join(base.dir, 'members.csv'), data.members.join('\n') + '\n');
    writeFileSync(join(base.dir, 'events.ndjson'), data.events.join('\n') + '\n');
    base.ok(['ingest', '--kind', 'members', join(base.dir, 'members.csv')]);
    base.ok(['ingest', join(base.dir, 'events.ndjson')]);
    const twin = workspace();
    const victim = workspace();
    for (const w of [twin, victim]) {
      w.writeConfig(spring(200_000));
      copyDb(base, w);
    }

    // The same plan for both: runs (the budget runs out), then a run with a raised budget. Before
    // each run of the twin, a copy of the victim is killed at each point in turn, then run again to
    // the end: every copy must end as the twin did.
    const steps: { run: string; budget?: number }[] = [{ run: '2026-03-18' }, { run: '2026-03-25', budget: 2_000_000 }];
    const outcomes: string[] = [];
    for (const step of steps) {
      for (const w of [twin, victim]) w.writeConfig(spring(step.budget ?? 200_000));
      twin.ok(['--quiet', 'run', '--as-of', step.run]);
      for (const point of CRASH_POINTS) {
        const copy = workspace();
        copy.writeConfig(spring(step.budget ?? 200_000));
        copyDb(victim, copy);
        if (existsSync(victim.grantsDir)) cpSync(victim.grantsDir, copy.grantsDir, { recursive: true });
        outcomes.push(`${step.run} ${point}: ${killRunAt(copy, step.run, point)}`);
        copy.ok(['--quiet', 'run', '--as-of', step.run]);
        expect(snapshot(copy), outcomes.join('\n')).toEqual(snapshot(twin));
        expectEveryGrantInOneFile(copy);
      }
      victim.ok(['--quiet', 'run', '--as-of', step.run]);
      expect(snapshot(victim)).toEqual(snapshot(twin));
    }
    expect(outcomes).toEqual(
      steps.flatMap((st) => [
        `${st.run} run:committed: committed`,
        `${st.run} durable:before-rename#1: committed+temp`,
        `${st.run} durable:before-rename#2: committed+temp`,
        `${st.run} run:file-written: committed`,
      ]),
    );
    expect(twin.grants().length, 'the data set earns grants').toBeGreaterThan(100);
    expect(twin.query('SELECT count(*) AS n FROM runs WHERE over_budget > 0')[0].n, 'the budget is hit').toBeGreaterThan(0);
  });
});
