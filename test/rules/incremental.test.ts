// The incremental run gives the same grants as a full evaluation: random data ingested day by day
// (with late events, member changes, budgets, config changes and reruns of earlier dates), and at
// every run the incremental plan must equal a full evaluation of the same database; and with
// in-order data the day-by-day result equals one full run over everything. In process, for speed; the CLI version is
// in test/cli/run-incremental.test.ts.
import { buildMapping } from '../../src/ingest/mapping.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { ConfigSchema } from '../../src/config/schema.js';
import { ingestFiles } from '../../src/ingest/ingest-files.js';
import { applyRun, planRun, type RunPlan } from '../../src/grants/run.js';
import { openDb, type Db } from '../../src/store/db.js';
import { dates, type Ev, ev, rng, TMP } from '../workspace.js';

vi.setConfig({ testTimeout: 60_000 });

const R = (code: string, amount_cents: number) => ({ code, amount_cents, currency: 'USD' });

function configFor(step: number) {
  // Day 12: the budget is raised; day 20: a rule changes (a new fingerprint forces a full evaluation).
  return ConfigSchema.parse({
    timezone: 'UTC',
    paths: { grants: 'out/grants' },
    campaigns: [
      {
        id: 'main',
        start: '2026-03-01',
        end: '2026-03-31',
        grace_days: 5,
        budget_cents: step < 12 ? 6000 : step < 30 ? 14000 : undefined,
        rules: [
          { id: 'first', type: 'first_event', event_type: 'signup', reward: R('F', 700) },
          { id: 'streak', type: 'streak', event_type: 'log', days: step < 20 ? 4 : 3, repeat: true, max_per_user: 4, reward: R('S', 300) },
          { id: 'active', type: 'active_days', event_type: 'log', min_days: 4, window_days: 7, repeat: true, max_per_user: 3, where: { source: ['app', 'watch'] }, reward: R('A', 200) },
          { id: 'whole', type: 'active_days', event_type: 'sym', min_days: 6, reward: R('W', 100) },
          { id: 'count', type: 'event_count', event_type: 'sym', min_events: 5, repeat: true, max_per_user: 3, where: { severe: true }, reward: R('C', 50) },
        ],
      },
      {
        id: 'acme',
        start: '2026-03-10',
        end: '2026-04-05',
        grace_days: 3,
        eligible_partners: ['acme'],
        rules: [
          { id: 'pair', type: 'streak', event_type: 'log', days: 2, repeat: true, max_per_user: 5, reward: R('P', 100) },
          { id: 'watch', type: 'event_count', event_type: 'log', min_events: 3, repeat: true, max_per_user: 2, where: { source: 'watch' }, reward: R('WA', 100) },
        ],
      },
    ],
  });
}

const DAYS = dates('2026-02-27', 46); // through 2026-04-13

/** Events and member files per ingest day: each event arrives the day after it happens, or (late) up to 4 days later. */
function generate(seed: number, late: boolean, memberChanges = late) {
  const r = rng(seed);
  const users = Array.from({ length: 40 }, (_, i) => `u${String(i).padStart(2, '0')}`);
  const active = new Map(users.map((u) => [u, r.chance(0.5)]));
  const arrivals = new Map<number, Ev[]>(); // ingest day index -> events
  const members = new Map<number, { user_id: string; partner?: string }[]>();
  members.set(0, users.map((u) => ({ user_id: u, partner: r.pick(['acme', 'globex', '']) })));
  if (memberChanges) members.set(15, users.filter(() => r.chance(0.2)).map((u) => ({ user_id: u, partner: r.pick(['acme', 'globex']) })));
  DAYS.forEach((d, i) => {
    for (const u of users) {
      active.set(u, r.chance(active.get(u) ? 0.8 : 0.3));
      const evs: Ev[] = [];
      if (active.get(u)) {
        for (let k = 0, n = 1 + r.int(2); k < n; k++) evs.push({ ...ev(u, 'log', d, { source: r.pick(['app', 'watch', 'web']) }), occurred_at: `${d}T${10 + k}:00:00Z` });
      }
      if (r.chance(0.35)) {
        for (let k = 0, n = 1 + r.int(3); k < n; k++) evs.push({ ...ev(u, 'sym', d, { severe: r.chance(0.5) }), occurred_at: `${d}T${14 + k}:00:00Z` });
      }
      if (r.chance(0.02)) evs.push(ev(u, 'signup', d));
      for (const e of evs) {
        const at = i + 1 + (late && r.chance(0.15) ? 1 + r.int(4) : 0);
        if (!arrivals.has(at)) arrivals.set(at, []);
        arrivals.get(at)!.push(e);
      }
    }
  });
  return { arrivals, members };
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

class Db1 {
  dir = mkdtempSync(join(TMP, 'rewards-incr-'));
  db: Db;
  files = 0;
  constructor() {
    dirs.push(this.dir);
    this.db = openDb(join(this.dir, 'rewards.db'));
  }
  async ingest(kind: 'events' | 'members', lines: string[]) {
    const file = join(this.dir, `in-${++this.files}.${kind === 'events' ? 'ndjson' : 'csv'}`);
    writeFileSync(file, lines.join('\n') + '\n');
    const rep = await ingestFiles(this.db, [file], { kind, mapping: buildMapping(kind, null, {}), maxRejectRate: 0, force: false, defaultZone: 'UTC', stdin: process.stdin });
    expect(rep.totals.rejected).toBe(0);
  }
  plan(step: number, asOf: string, full: boolean) {
    return planRun(this.db, configFor(step), { asOf, campaignIds: [], full });
  }
  apply(plan: RunPlan) {
    return applyRun(this.db, plan, join(this.dir, 'out/grants'));
  }
  run(step: number, asOf: string) {
    return this.apply(this.plan(step, asOf, false));
  }
  grants() {
    return this.db.prepare('SELECT * FROM grants ORDER BY grant_id').all();
  }
}

const planned = (p: RunPlan) =>
  p.campaigns.map((c) => ({
    id: c.id,
    granted: c.granted.map((g) => `${g.rule_id}/${g.user_id}/${g.seq}@${g.earned_on}`),
    over: c.overBudget.map((g) => `${g.rule_id}/${g.user_id}/${g.seq}@${g.earned_on}`),
    state: c.state,
  }));

/**
 * Ingests the data set day by day and runs each day (sometimes also an earlier date); at every run
 * the incremental plan must equal a full evaluation of the same database, and is then applied.
 */
async function dayByDay(db: Db1, seed: number, late: boolean, opts: { reruns: boolean; compare: boolean; step?: (i: number) => number }) {
  const { arrivals, members } = generate(seed, late);
  const r = rng(seed + 1);
  const modes = new Set<string>();
  for (let i = 1; i <= DAYS.length; i++) {
    const m = members.get(i - 1);
    if (m) await db.ingest('members', ['user_id,partner', ...m.map((x) => `${x.user_id},${x.partner ?? ''}`)]);
    const evs = arrivals.get(i);
    if (evs?.length) await db.ingest('events', evs.map((e) => JSON.stringify(e)));
    const asOfs = [DAYS[i - 1]!];
    // Sometimes an operator reruns an earlier date, before or after today's run.
    if (opts.reruns && r.chance(0.25)) asOfs.splice(r.int(2), 0, DAYS[Math.max(0, i - 2 - r.int(6))]!);
    for (const asOf of asOfs) {
      const step = opts.step ? opts.step(i) : i;
      const waiting = (db.db.prepare("SELECT over_budget FROM campaign_state WHERE campaign_id = 'main'").pluck().get() as number | undefined) ?? 0;
      const inc = db.plan(step, asOf, false);
      for (const c of inc.campaigns) modes.add(c.mode === 'incremental' && c.id === 'main' && waiting > 0 ? 'incremental with grants waiting over budget' : c.mode);
      if (opts.compare) expect(planned(inc), `as-of ${asOf} after ingest day ${i}`).toEqual(planned(db.plan(step, asOf, true)));
      db.apply(inc);
    }
  }
  return modes;
}

describe('incremental evaluation equals full evaluation', () => {
  for (const seed of [1, 2]) {
    it(`seed ${seed}: late events, member changes, budget raises, a rule change and reruns of earlier dates`, async () => {
      const db = new Db1();
      const modes = await dayByDay(db, seed, true, { reruns: true, compare: true });
      // the test exercises the incremental path, also with grants waiting over budget, and the full one
      expect(modes).toContain('incremental');
      expect(modes).toContain('incremental with grants waiting over budget');
      expect(modes).toContain('full');
      expect(db.grants().length).toBeGreaterThan(50);
    });
  }

  it('with in-order data (no late events, no budget or member changes), day-by-day runs give what one full run over everything gives', async () => {
    const daily = new Db1();
    await dayByDay(daily, 7, false, { reruns: false, compare: false, step: () => 40 });
    const once = new Db1();
    const { arrivals, members } = generate(7, false);
    for (const [, m] of [...members].sort(([a], [b]) => a - b)) await once.ingest('members', ['user_id,partner', ...m.map((x) => `${x.user_id},${x.partner ?? ''}`)]);
    await once.ingest('events', [...arrivals.values()].flat().map((e) => JSON.stringify(e)));
    once.run(40, '2026-04-05'); // the last day both campaigns are open
    const key = (g: any) => `${g.grant_id} ${g.campaign_id}/${g.rule_id}/${g.user_id}/${g.seq}@${g.earned_on}`;
    expect(daily.grants().map(key).sort()).toEqual(once.grants().map(key).sort());
  });
});
