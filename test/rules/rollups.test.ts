// The rollups of rules with a `where` filter (migration 008, src/store/sources.ts): kept by the runs
// themselves, folded into the database now and then and rolled up in TEMP in between, they must count
// exactly what the raw events say, through late events and prunes; a dry run, explain and report
// must leave no trace in the database.
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { RuleSchema, type Where } from '../../src/config/schema.js';
import { dayNumber, type CountedDays, evaluateRule, joinedDays } from '../../src/rules/evaluate.js';
import { openDb } from '../../src/store/db.js';
import { prune } from '../../src/store/retention.js';
import { iterateMemberActivity } from '../../src/store/activity.js';
import { watermarks } from '../../src/store/runs.js';
import { syncRollups } from '../../src/store/sources.js';
import { daysBetween } from '../../src/time/datetime.js';
import { dates, type Ev, ev, reward, rng, Workspace } from '../workspace.js';

vi.setConfig({ testTimeout: 60_000 });

const workspaces: Workspace[] = [];
const workspace = () => {
  const ws = new Workspace('rewards-rollups-');
  workspaces.push(ws);
  return ws;
};
afterAll(() => {
  for (const ws of workspaces) ws.cleanup();
});

const DAYS = dates('2026-03-01', 24);

/** Events per ingest day (index into DAYS): each arrives the day after it happens, some up to 4 days later. */
function arrivals(seed: number, late: boolean): Map<number, Ev[]> {
  const r = rng(seed);
  const out = new Map<number, Ev[]>();
  DAYS.forEach((d, i) => {
    for (let u = 0; u < 30; u++) {
      const user = `u${String(u).padStart(2, '0')}`;
      for (let k = 0, n = r.int(3); k < n; k++) {
        const properties: Record<string, unknown> = { level: 1 + r.int(3), severe: r.chance(0.5), 'a.b': r.pick(['x', 'y']) };
        const source = r.pick(['app', 'watch', 'web', null]);
        if (source) properties.source = source;
        const e = { ...ev(user, r.pick(['log', 'log', 'sym']), d, properties), occurred_at: `${d}T${10 + k}:00:00Z` };
        const at = i + 1 + (late && r.chance(0.2) ? 1 + r.int(4) : 0);
        if (!out.has(at)) out.set(at, []);
        out.get(at)!.push(e);
      }
    }
  });
  return out;
}

const SOURCES: { eventType: string; where: Where }[] = [
  { eventType: 'log', where: { source: ['app', 'watch'] } },
  { eventType: 'sym', where: { severe: true } },
  { eventType: 'log', where: { level: [2, 3], source: 'app' } },
  { eventType: 'sym', where: { 'a.b': 'x' } },
];

/** What a source counts, from the raw events: user -> `date:events` in date order. */
function truth(events: Ev[], src: { eventType: string; where: Where }): Record<string, string[]> {
  const counts = new Map<string, Map<string, number>>();
  for (const e of events) {
    if (e.event_type !== src.eventType) continue;
    const ok = Object.entries(src.where).every(([k, allowed]) => (Array.isArray(allowed) ? allowed : [allowed]).includes(e.properties?.[k] as never));
    if (!ok) continue;
    const date = e.occurred_at.slice(0, 10);
    const m = counts.get(e.user_id) ?? new Map<string, number>();
    counts.set(e.user_id, m.set(date, (m.get(date) ?? 0) + 1));
  }
  const out: Record<string, string[]> = {};
  for (const [u, m] of counts) out[u] = [...m].sort(([a], [b]) => (a < b ? -1 : 1)).map(([d, n]) => `${d}:${n}`);
  return out;
}

const listed = (days: CountedDays) => Array.from({ length: days.length }, (_, i) => `${days.date(i)}:${days.events(i)}`);

/** What the run's reader gives for each source, after syncing the rollups the way a run (or a dry run) does. */
function readAll(dbPath: string, o: { write: boolean; foldShare?: number }): Record<string, string[]>[] {
  const db = openDb(dbPath);
  try {
    const read = () => {
      const rollups = syncRollups(db, SOURCES, watermarks(db).events, o);
      return SOURCES.map((src) => {
        const out: Record<string, string[]> = {};
        for (const m of iterateMemberActivity(db, rollups.of(src), src, DAYS[0]!, DAYS[DAYS.length - 1]!)) out[m.user_id] = listed(joinedDays(m.dates, m.counts));
        return out;
      });
    };
    const tx = db.transaction(read);
    return o.write ? tx.immediate() : tx();
  } finally {
    db.close();
  }
}

function pruneBefore(dbPath: string, date: string): number {
  const db = openDb(dbPath);
  try {
    return prune(db, date, null).events;
  } finally {
    db.close();
  }
}

describe('filtered rollups', () => {
  it('count what the raw events say, folded every run, never after the build, or now and then; through late events and a prune', () => {
    const policies = [0, Infinity, undefined];
    const spaces = policies.map(() => workspace());
    for (const ws of spaces) ws.writeConfig({ timezone: 'UTC', campaigns: [] });
    const arrived = arrivals(11, true);
    const seen: Ev[] = [];
    let pruned = 0;
    for (let day = 1; day <= DAYS.length + 5; day++) {
      const evs = arrived.get(day) ?? [];
      if (evs.length) for (const ws of spaces) ws.ingest(evs);
      seen.push(...evs);
      if (day === 12) {
        // Events of the first days go; every rollup must keep counting them, including those that
        // arrived after a source's last fold (the delete trigger folds them on their way out).
        for (const ws of spaces) pruned = pruneBefore(ws.db, DAYS[5]!);
        expect(pruned).toBeGreaterThan(0);
      }
      const want = SOURCES.map((src) => truth(seen, src));
      policies.forEach((foldShare, i) => {
        expect(readAll(spaces[i]!.db, { write: true, foldShare }), `day ${day}, fold share ${foldShare}`).toEqual(want);
        // What a dry run reads (nothing written: TEMP rows beside the stored ones) is the same.
        expect(readAll(spaces[i]!.db, { write: false }), `day ${day}, read only`).toEqual(want);
      });
    }
    // The policies did differ: folded every run, nothing is left past the watermark; never folded, everything after the build is.
    const lag = (ws: Workspace) => ws.query<{ lag: number }>('SELECT (SELECT max(seq) FROM events) - min(watermark) AS lag FROM activity_sources')[0]!.lag;
    expect(lag(spaces[0]!)).toBe(0);
    expect(lag(spaces[1]!)).toBeGreaterThan(100);
  });

  it('where-rule grants over nightly runs with a prune in between equal one full run over the unpruned data', () => {
    const config = {
      timezone: 'UTC',
      paths: { grants: 'out/grants' },
      campaigns: [
        {
          id: 'c',
          start: DAYS[0],
          end: DAYS[DAYS.length - 1],
          rules: [
            { id: 'active', type: 'active_days', event_type: 'log', min_days: 3, window_days: 5, repeat: true, max_per_user: 3, where: { source: ['app', 'watch'] }, reward: reward('A', 100) },
            { id: 'streak', type: 'streak', event_type: 'log', days: 3, repeat: true, max_per_user: 4, where: { level: [2, 3] }, reward: reward('S', 100) },
            { id: 'severe', type: 'event_count', event_type: 'sym', min_events: 4, repeat: true, max_per_user: 3, where: { severe: true }, reward: reward('C', 100) },
            { id: 'first', type: 'first_event', event_type: 'sym', where: { 'a.b': 'x' }, reward: reward('F', 100) },
          ],
        },
      ],
    };
    const nightly = workspace();
    const once = workspace();
    nightly.writeConfig(config);
    once.writeConfig(config);
    const arrived = arrivals(5, false);
    for (let day = 1; day <= DAYS.length; day++) {
      nightly.ingest(arrived.get(day) ?? []);
      nightly.run(DAYS[day - 1]!);
      if (day === 10) expect(pruneBefore(nightly.db, DAYS[6]!)).toBeGreaterThan(0);
    }
    once.ingest([...arrived.values()].flat());
    once.run(DAYS[DAYS.length - 1]!);
    const key = (g: { grant_id: string; rule_id: string; user_id: string; seq: number; earned_on: string }) => `${g.grant_id} ${g.rule_id}/${g.user_id}/${g.seq}@${g.earned_on}`;
    expect(once.grants().length).toBeGreaterThan(50);
    expect(nightly.grants().map(key)).toEqual(once.grants().map(key));
  });
});

describe('commands that write nothing', () => {
  it('a dry run (also of a new where-rule), explain and report leave the database as it was, and the dry run shows what the run then grants', () => {
    const rules = [
      { id: 'active', type: 'active_days', event_type: 'log', min_days: 3, window_days: 5, where: { source: ['app', 'watch'] }, reward: reward('A', 100) },
      { id: 'count', type: 'event_count', event_type: 'sym', min_events: 3, repeat: true, max_per_user: 2, where: { severe: true }, reward: reward('C', 50) },
    ];
    const campaign = { id: 'c', start: DAYS[0], end: DAYS[DAYS.length - 1], rules };
    const ws = workspace();
    ws.writeConfig({ timezone: 'UTC', paths: { grants: 'out/grants' }, campaigns: [campaign] });
    // A candidate config: one more where-rule, over a source no run has built.
    const candidate = ws.writeConfig(
      {
        timezone: 'UTC',
        paths: { grants: 'out/grants' },
        campaigns: [{ ...campaign, rules: [...rules, { id: 'web', type: 'streak', event_type: 'log', days: 2, repeat: true, max_per_user: 5, where: { source: 'web' }, reward: reward('W', 10) }] }],
      },
      join(ws.dir, 'candidate.json'),
    );
    const arrived = arrivals(3, true);
    const asOf = DAYS[9]!;
    for (let day = 1; day <= 6; day++) ws.ingest(arrived.get(day) ?? []);
    ws.run(DAYS[5]!);
    // Events past the rollups' watermark: a run would fold or overlay them; these commands must not write them.
    for (let day = 7; day <= 10; day++) ws.ingest(arrived.get(day) ?? []);

    const snapshot = () => {
      const tables = ws.query<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").map((t) => t.name);
      return {
        schema: ws.query('SELECT type, name, sql FROM sqlite_master ORDER BY name'),
        version: ws.query('PRAGMA user_version'),
        rows: Object.fromEntries(tables.map((t) => [t, ws.query(`SELECT * FROM "${t}" ORDER BY 1, 2, 3`)])),
      };
    };
    const before = snapshot();
    expect(before.rows.activity_sources!.length).toBe(2);
    const dry = ws.ok(['--json', 'run', '--dry-run', '--as-of', asOf]);
    const dryCandidate = ws.ok(['--json', '--config', candidate, 'run', '--dry-run', '--as-of', asOf]);
    ws.ok(['--json', 'explain', '--user', 'u03', '--as-of', asOf]);
    ws.ok(['--json', '--config', candidate, 'explain', '--user', 'u04', '--as-of', asOf]);
    const report = ws.ok(['--json', '--config', candidate, 'report', '--as-of', asOf]);
    expect(snapshot()).toEqual(before);
    expect(ws.grantFiles().filter((f) => f.endsWith('.csv')).length).toBe(1);

    const row = (g: { rule_id: string; user_id: string; seq: number; earned_on: string }) => `${g.rule_id}/${g.user_id}/${g.seq}@${g.earned_on}`;
    const newRule = dryCandidate.rows.filter((g: { rule_id: string }) => g.rule_id === 'web');
    expect(newRule.length).toBeGreaterThan(0);
    expect(report.rows.find((r: { rule_id: string }) => r.rule_id === 'web').members_counted).toBeGreaterThan(0);
    // What the dry runs showed is what the runs grant.
    ws.run(asOf);
    expect(ws.grants().filter((g) => g.run_id === 2).map(row).sort()).toEqual(dry.rows.map(row).sort());
    ws.ok(['--json', '--config', candidate, 'run', '--as-of', asOf]);
    expect(ws.grants().filter((g) => g.rule_id === 'web').map(row).sort()).toEqual(newRule.map(row).sort());
  });
});

describe('counted days', () => {
  it('dayNumber is the number of days since 1970-01-01, across months, leap years and centuries', () => {
    for (const d of ['1970-01-01', '1999-12-31', '2000-02-28', '2000-02-29', '2000-03-01', '2100-02-28', '2100-03-01', '2024-02-29', '2026-03-08', '2026-12-31', '1900-03-01']) {
      expect(dayNumber(d), d).toBe(daysBetween('1970-01-01', d));
    }
    for (const d of dates('2023-12-25', 800)) expect(dayNumber(`x,${d}`, 2)).toBe(daysBetween('1970-01-01', d));
  });

  it('joined days read in place; out of order, they are sorted, and a date given twice counts both', () => {
    expect(listed(joinedDays('2026-03-01,2026-03-02,2026-03-04', '1,3,2'))).toEqual(['2026-03-01:1', '2026-03-02:3', '2026-03-04:2']);
    expect(listed(joinedDays('2026-03-04,2026-03-01,2026-03-04,2026-02-28', '2,1,5,1'))).toEqual(['2026-02-28:1', '2026-03-01:1', '2026-03-04:7']);
    const streak = RuleSchema.parse({ id: 's', type: 'streak', event_type: 'log', days: 2, repeat: true, max_per_user: 5, reward: reward('S', 1) });
    expect(evaluateRule(streak, joinedDays('2026-03-02,2026-03-01,2026-03-03,2026-03-04', '1,1,1,1'))).toEqual([
      { seq: 1, earned_on: '2026-03-02' },
      { seq: 2, earned_on: '2026-03-04' },
    ]);
  });
});
