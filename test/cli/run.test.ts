// `rewards run` through the CLI: grant files, checksums, exact reruns, --dry-run, --json shape,
// exit codes for bad config / unknown campaign, the default as-of, and the writer lock.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { dates, ev, GRANT_HEADER, parseGrantFile, reward, Workspace } from '../workspace.js';

vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

const config = {
  timezone: 'America/New_York',
  paths: { grants: 'out/grants' },
  campaigns: [
    {
      id: 'spring',
      start: '2026-03-01',
      end: '2026-03-31',
      rules: [
        { id: 'birth', type: 'first_event', event_type: 'birth_reported', reward: reward('GIFT-25', 2500) },
        { id: 'five-days', type: 'streak', event_type: 'data_logged', days: 5, repeat: true, max_per_user: 3, reward: reward('GIFT-5', 500) },
      ],
    },
    {
      id: 'other',
      start: '2026-03-01',
      end: '2026-03-31',
      rules: [{ id: 'any-log', type: 'first_event', event_type: 'data_logged', reward: reward('O-1', 100) }],
    },
  ],
};

const events = [
  ...dates('2026-03-01', 12).map((d) => ev('u1', 'data_logged', d)),
  ...dates('2026-03-03', 5).map((d) => ev('u2', 'data_logged', d)),
  ev('u3', 'birth_reported', '2026-03-04'),
  ev('u4', 'data_logged', '2026-03-25'),
];

const counts = (ws: Workspace) => ws.query<{ n: number }>("SELECT (SELECT count(*) FROM runs) + (SELECT count(*) FROM grants) + (SELECT count(*) FROM campaign_state) AS n")[0]!.n;
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

describe('rewards run: grant files and reruns', () => {
  const ws = new Workspace();
  beforeAll(() => {
    ws.writeConfig(config);
    ws.ingest(events);
  });
  afterAll(() => ws.cleanup());

  let dry: any;
  it('--dry-run computes the grants and writes nothing', () => {
    dry = ws.run('2026-03-20', '--dry-run');
    // the in-process runner the other tests use answers exactly as the binary does
    expect(ws.run('2026-03-20', '--dry-run')).toEqual(dry);
    expect(dry).toMatchObject({ run_id: null, as_of: '2026-03-20', dry_run: true, grants: 6, amount_cents: 4200, file: null });
    expect(dry.campaigns.map((c: any) => ({ id: c.id, closed: c.closed, grants: c.grants, amount_cents: c.amount_cents, over_budget: c.over_budget }))).toEqual([
      { id: 'spring', closed: false, grants: 4, amount_cents: 4000, over_budget: 0 },
      { id: 'other', closed: false, grants: 2, amount_cents: 200, over_budget: 0 },
    ]);
    expect(dry.rows.map((r: any) => `${r.campaign_id}/${r.rule_id}/${r.user_id}/${r.seq}@${r.earned_on}`).sort()).toEqual([
      'other/any-log/u1/1@2026-03-01',
      'other/any-log/u2/1@2026-03-03',
      'spring/birth/u3/1@2026-03-04',
      'spring/five-days/u1/1@2026-03-05',
      'spring/five-days/u1/2@2026-03-10',
      'spring/five-days/u2/1@2026-03-07',
    ]);
    expect(counts(ws)).toBe(0);
    expect(existsSync(ws.grantsDir)).toBe(false);
    const human = ws.ok(['run', '--as-of', '2026-03-20', '--dry-run']);
    expect(human.stderr).toContain('spring: would grant 4 (40.00)');
    expect(counts(ws)).toBe(0);
    expect(existsSync(ws.grantsDir)).toBe(false);
  });

  let first: any;
  it('a run records the grants and writes grants-<as-of>-<run_id>.csv with the exact columns and a .sha256', () => {
    first = ws.run('2026-03-20');
    expect(Object.keys(first)).toEqual(expect.arrayContaining(['run_id', 'as_of', 'dry_run', 'campaigns', 'grants', 'amount_cents', 'file']));
    for (const c of first.campaigns) expect(Object.keys(c)).toEqual(expect.arrayContaining(['id', 'closed', 'grants', 'amount_cents', 'over_budget']));
    expect(first).toMatchObject({ run_id: 1, as_of: '2026-03-20', dry_run: false, grants: 6, amount_cents: 4200, file: join(ws.grantsDir, 'grants-2026-03-20-1.csv') });
    expect(ws.grantFiles()).toEqual(['grants-2026-03-20-1.csv', 'grants-2026-03-20-1.csv.sha256']);
    const text = ws.grantFile('grants-2026-03-20-1.csv');
    const { header, rows } = parseGrantFile(text);
    expect(header.join(',')).toBe(GRANT_HEADER);
    expect(rows).toHaveLength(6);
    // The file holds exactly the database's grants, and the dry run predicted them, ids included.
    const db = ws.grants();
    expect(rows.map((r) => r.grant_id).sort()).toEqual(db.map((g) => g.grant_id).sort());
    expect(rows.map((r) => r.grant_id).sort()).toEqual(dry.rows.map((r: any) => r.grant_id).sort());
    for (const r of rows) {
      const g = db.find((x) => x.grant_id === r.grant_id)!;
      // The issuance system's idempotency key: a pure function of (campaign, rule, user, seq), stable across versions.
      expect(r.grant_id).toBe(sha(`${r.campaign_id}\u0000${r.rule_id}\u0000${r.user_id}\u0000${r.seq}`).slice(0, 32));
      expect(r).toEqual(Object.fromEntries(Object.entries(g).map(([k, v]) => [k, String(v)])));
      expect(r.run_id).toBe('1');
    }
    expect(rows.find((r) => r.user_id === 'u3')).toMatchObject({ campaign_id: 'spring', rule_id: 'birth', seq: '1', reward_code: 'GIFT-25', amount_cents: '2500', currency: 'USD', earned_on: '2026-03-04' });
    // sha256sum -c accepts the checksum file
    expect(ws.grantFile('grants-2026-03-20-1.csv.sha256')).toBe(`${sha(text)}  grants-2026-03-20-1.csv\n`);
    const check = spawnSync('sha256sum', ['-c', 'grants-2026-03-20-1.csv.sha256'], { cwd: ws.grantsDir, encoding: 'utf8' });
    expect(check.status).toBe(0);
    expect(check.stdout).toBe('grants-2026-03-20-1.csv: OK\n');
    expect(ws.query('SELECT run_id, as_of, status, grants, amount_cents, over_budget, file, file_sha256 FROM runs')).toEqual([
      { run_id: 1, as_of: '2026-03-20', status: 'complete', grants: 6, amount_cents: 4200, over_budget: 0, file: first.file, file_sha256: sha(text) },
    ]);
  });

  it('rerunning the same as-of grants nothing new and writes no other file', () => {
    const before = { grants: ws.grants(), runs: ws.query('SELECT * FROM runs'), files: ws.grantFiles(), text: ws.grantFile('grants-2026-03-20-1.csv') };
    for (let i = 0; i < 2; i++) {
      const again = ws.run('2026-03-20');
      expect(again).toMatchObject({ as_of: '2026-03-20', dry_run: false, grants: 0, amount_cents: 0, run_id: 1, file: first.file });
      expect(again.campaigns.map((c: any) => c.grants)).toEqual([0, 0]);
    }
    expect(ws.grants()).toEqual(before.grants);
    expect(ws.query('SELECT * FROM runs')).toEqual(before.runs);
    expect(ws.grantFiles()).toEqual(before.files);
    expect(ws.grantFile('grants-2026-03-20-1.csv')).toBe(before.text);
  });

  it('a new as-of with nothing earned writes a header-only file that checks', () => {
    const r = ws.run('2026-03-21');
    expect(r).toMatchObject({ run_id: 2, grants: 0, file: join(ws.grantsDir, 'grants-2026-03-21-2.csv') });
    expect(ws.grantFile('grants-2026-03-21-2.csv')).toBe(GRANT_HEADER + '\n');
    expect(spawnSync('sha256sum', ['-c', 'grants-2026-03-21-2.csv.sha256'], { cwd: ws.grantsDir }).status).toBe(0);
    // an earlier as-of than the last run: everything it would grant is granted already
    expect(ws.run('2026-03-20').grants).toBe(0);
    expect(ws.run('2026-03-21').grants).toBe(0);
    expect(ws.grantFiles()).toHaveLength(4);
  });

  it('the next new earning goes to a new file; every grant is in exactly one file', () => {
    const r = ws.run('2026-03-25');
    expect(r).toMatchObject({ run_id: 3, grants: 1 });
    const all = ws.grantFiles().filter((f) => f.endsWith('.csv')).flatMap((f) => parseGrantFile(ws.grantFile(f)).rows.map((x) => x.grant_id));
    expect(all.sort()).toEqual(ws.grants().map((g) => g.grant_id).sort());
    expect(new Set(all).size).toBe(all.length);
    expect(parseGrantFile(ws.grantFile('grants-2026-03-25-3.csv')).rows).toMatchObject([{ user_id: 'u4', rule_id: 'any-log', earned_on: '2026-03-25', run_id: '3' }]);
  });

  it('--campaign limits the run to that campaign', () => {
    ws.ingest([ev('u5', 'birth_reported', '2026-03-26'), ev('u5', 'data_logged', '2026-03-26')]);
    const r = ws.run('2026-03-26', '--campaign', 'other');
    expect(r.campaigns.map((c: any) => c.id)).toEqual(['other']);
    expect(ws.earned()).toMatchObject({ 'u5:any-log': ['2026-03-26'] });
    expect(ws.earned()['u5:birth']).toBeUndefined();
    const r2 = ws.run('2026-03-26');
    expect(r2.grants).toBe(1);
    expect(ws.earned()['u5:birth']).toEqual(['2026-03-26']);
  });
});

describe('rewards run: usage and config errors', () => {
  const ws = new Workspace();
  beforeAll(() => ws.writeConfig(config));
  afterAll(() => ws.cleanup());

  it('a bad config exits 78 naming the path', () => {
    const bad = structuredClone(config) as any;
    bad.campaigns[0].rules[1].days = 0;
    const path = ws.writeConfig(bad, join(ws.dir, 'bad.json'));
    const r = ws.cli(['--config', path, 'run', '--as-of', '2026-03-20']);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('campaigns[0].rules[1].days: expected a positive integer');
    bad.campaigns[0].rules[1].days = 5;
    bad.campaigns[1].rules[0].type = 'weekly';
    ws.writeConfig(bad, path);
    const r2 = ws.cli(['--config', path, 'run', '--as-of', '2026-03-20']);
    expect(r2.code).toBe(78);
    expect(r2.stderr).toContain('campaigns[1].rules[0]');
    expect(existsSync(ws.db)).toBe(false);
  });

  it('an unknown --campaign or a bad --as-of exits 64', () => {
    const r = ws.cli(['run', '--as-of', '2026-03-20', '--campaign', 'nope']);
    expect(r.code).toBe(64);
    expect(r.stderr).toContain('--campaign nope');
    expect(r.stderr).toContain('spring, other');
    expect(ws.cli(['run', '--as-of', '2026-02-30']).code).toBe(64);
  });

  it('--dry-run does not create a database; --as-of defaults to yesterday in the config timezone', () => {
    const none = ws.cli(['run', '--as-of', '2026-03-20', '--dry-run']);
    expect(none.code).toBe(66);
    expect(existsSync(ws.db)).toBe(false);
    ws.ingestMembers([]);
    for (const tz of ['Pacific/Kiritimati']) {
      ws.writeConfig({ ...config, timezone: tz });
      const out = ws.ok(['--json', 'run', '--dry-run']);
      const ymd = (ms: number) => new Intl.DateTimeFormat('en-CA', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit' }).format(ms);
      const today = ymd(Date.now());
      const yesterday = new Date(Date.parse(today + 'T00:00:00Z') - 86_400_000).toISOString().slice(0, 10);
      expect(out.as_of).toBe(yesterday);
    }
  });
});

describe('one writer at a time', () => {
  const ws = new Workspace();
  beforeAll(() => {
    ws.writeConfig(config);
    ws.ingest(events);
  });
  afterAll(() => ws.cleanup());

  it('a second writer exits 75 naming the holder; the run works once the holder is done', async () => {
    // A real concurrent writer: an ingest reading from a stdin that stays open holds the lock.
    const holder = ws.spawn(['ingest', '--format', 'ndjson', '-']);
    const exited = new Promise<number | null>((res) => holder.on('exit', (c) => res(c)));
    try {
      const deadline = Date.now() + 10_000;
      while (ws.query('SELECT pid FROM lock').length === 0) {
        if (Date.now() > deadline) throw new Error('the ingest never took the lock');
        await new Promise((r) => setTimeout(r, 50));
      }
      const r = ws.cli(['run', '--as-of', '2026-03-20']);
      expect(r.code).toBe(75);
      expect(r.stderr).toContain(`pid ${holder.pid}`);
      expect(r.stderr).toMatch(/rewards ingest`, started \d{4}-\d\d-\d\dT/);
      expect(ws.grants()).toEqual([]);
      expect(ws.grantFiles()).toEqual([]);
    } finally {
      holder.stdin!.end(JSON.stringify(ev('u9', 'data_logged', '2026-03-02')) + '\n');
    }
    expect(await exited).toBe(0);
    expect(ws.run('2026-03-20').grants).toBe(7);
  });

  it('a lock left by a killed process is taken over', () => {
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const pid = Number(gone.stdout);
    ws.exec(`INSERT INTO lock (id, pid, host, command, started_at) VALUES (1, ${pid}, '${hostname()}', 'run', '2026-03-21T00:00:00.000Z')`);
    expect(ws.run('2026-03-21').run_id).toBe(2);
    expect(ws.query('SELECT * FROM lock')).toEqual([]);
  });
});
