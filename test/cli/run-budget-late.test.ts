// Budgets (order, over-budget rows, granted later when raised) and late data (late events earn with
// their true date; grants are final) through `rewards run`.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { dates, ev, parseGrantFile, reward, Workspace } from '../workspace.js';

vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

describe('budget', () => {
  const ws = new Workspace();
  const campaign = (budget_cents?: number) => ({
    id: 'budgeted',
    start: '2026-03-01',
    end: '2026-03-31',
    ...(budget_cents === undefined ? {} : { budget_cents }),
    rules: [
      { id: 'first-a', type: 'first_event', event_type: 'a', reward: reward('A', 300) },
      { id: 'pair', type: 'streak', event_type: 'log', days: 2, reward: reward('P', 400) },
      { id: 'first-x', type: 'first_event', event_type: 'x', reward: reward('X', 50) },
    ],
  });
  const writeConfig = (budget?: number) => ws.writeConfig({ timezone: 'UTC', paths: { grants: 'out/grants' }, campaigns: [campaign(budget)] });
  const key = (r: { earned_on?: string; rule_id?: string; user_id?: string }) => `${r.earned_on}/${r.rule_id}/${r.user_id}`;

  beforeAll(() => {
    writeConfig(1000);
    ws.ingest([
      ev('b', 'a', '2026-03-01'),
      ev('a', 'a', '2026-03-02'),
      ev('B', 'a', '2026-03-02'),
      ev('c', 'log', '2026-03-01'),
      ev('c', 'log', '2026-03-02'),
      ev('d', 'a', '2026-03-03'),
      ev('e', 'x', '2026-03-03'),
    ]);
  });
  afterAll(() => ws.cleanup());

  // Budget order: (earned date, rule order, user_id in code-point order, seq).
  const order = ['2026-03-01/first-a/b', '2026-03-02/first-a/B', '2026-03-02/first-a/a', '2026-03-02/pair/c', '2026-03-03/first-a/d', '2026-03-03/first-x/e'];

  it('--dry-run --json rows include the over-budget ones', () => {
    const dry = ws.run('2026-03-05', '--dry-run');
    expect(dry.campaigns).toMatchObject([{ id: 'budgeted', grants: 3, amount_cents: 900, over_budget: 3 }]);
    expect(dry.rows.map((r: any) => [key(r), r.over_budget])).toEqual(order.map((k, i) => [k, i >= 3]));
    expect(ws.grants()).toEqual([]);
  });

  it('grants in budget order until the next does not fit; the rest are over budget, even a cheaper one after it', () => {
    const r = ws.run('2026-03-05');
    expect(r.campaigns).toMatchObject([{ id: 'budgeted', grants: 3, amount_cents: 900, over_budget: 3 }]);
    expect(ws.grants().map(key).sort()).toEqual(order.slice(0, 3).sort());
    expect(ws.query('SELECT over_budget FROM runs')).toEqual([{ over_budget: 3 }]);
    // A rerun with the same budget grants nothing, still reports them, and writes no file.
    const again = ws.run('2026-03-05');
    expect(again).toMatchObject({ grants: 0, run_id: 1 });
    expect(again.campaigns[0].over_budget).toBe(3);
    expect(ws.grantFiles()).toHaveLength(2);
  });

  it('raising the budget lets a later run grant them, in the same order, with their true earned dates', () => {
    writeConfig(1500);
    const r = ws.run('2026-03-05');
    expect(r).toMatchObject({ run_id: 2, grants: 1, amount_cents: 400 });
    // the members left over budget are evaluated again: no full evaluation is needed for that
    expect(r.campaigns[0].mode).toBe('incremental');
    expect(ws.query("SELECT rule_id, user_id, seq, earned_on FROM campaign_over_budget WHERE campaign_id = 'budgeted' ORDER BY user_id")).toEqual([
      { rule_id: 'first-a', user_id: 'd', seq: 1, earned_on: '2026-03-03' },
      { rule_id: 'first-x', user_id: 'e', seq: 1, earned_on: '2026-03-03' },
    ]);
    expect(r.campaigns[0].over_budget).toBe(2);
    expect(parseGrantFile(ws.grantFile('grants-2026-03-05-2.csv')).rows.map(key)).toEqual(['2026-03-02/pair/c']);
    writeConfig(undefined);
    const r2 = ws.run('2026-03-06');
    expect(r2).toMatchObject({ run_id: 3, grants: 2, amount_cents: 350 });
    expect(r2.campaigns[0].over_budget).toBe(0);
    expect(ws.grants().map(key).sort()).toEqual([...order].sort());
    expect(new Set(ws.grants().map((g) => g.grant_id)).size).toBe(6);
  });
});

describe('late events and final grants', () => {
  const ws = new Workspace();
  beforeAll(() => {
    ws.writeConfig({
      timezone: 'UTC',
      paths: { grants: 'out/grants' },
      campaigns: [
        {
          id: 'c',
          start: '2026-03-01',
          end: '2026-03-31',
          rules: [
            { id: 'five', type: 'streak', event_type: 'log', days: 5, repeat: true, max_per_user: 5, reward: reward('G5', 500) },
            { id: 'active-3-of-5', type: 'active_days', event_type: 'log', min_days: 3, window_days: 5, reward: reward('A3', 300) },
          ],
        },
        {
          id: 'acme',
          start: '2026-03-01',
          end: '2026-03-31',
          eligible_partners: ['acme'],
          rules: [{ id: 'pair', type: 'streak', event_type: 'log', days: 2, repeat: true, max_per_user: 5, reward: reward('P', 100) }],
        },
      ],
    });
    ws.ingestMembers([
      { user_id: 'u1', partner: 'acme' },
      { user_id: 'u3', partner: 'globex' },
    ]);
  });
  afterAll(() => ws.cleanup());

  it('a late event that completes a streak or window earns in the next run, with its true earned date', () => {
    ws.ingest(['2026-03-01', '2026-03-02', '2026-03-03', '2026-03-05'].map((d) => ev('u1', 'log', d)));
    ws.run('2026-03-05');
    expect(ws.earned('c')).toEqual({ 'u1:active-3-of-5': ['2026-03-03'] });
    expect(ws.earned('acme')).toEqual({ 'u1:pair': ['2026-03-02'] });
    // 03-04 arrives a day late, with 03-06
    ws.ingest([ev('u1', 'log', '2026-03-04'), ev('u1', 'log', '2026-03-06')]);
    const r = ws.run('2026-03-06');
    expect(r.grants).toBe(3);
    expect(ws.earned('c')).toEqual({ 'u1:active-3-of-5': ['2026-03-03'], 'u1:five': ['2026-03-05'] });
    expect(ws.earned('acme')).toEqual({ 'u1:pair': ['2026-03-02', '2026-03-04', '2026-03-06'] });
    expect(parseGrantFile(ws.read(r.file)).rows.map((x) => `${x.rule_id}@${x.earned_on}`).sort()).toEqual(['five@2026-03-05', 'pair@2026-03-04', 'pair@2026-03-06']);
  });

  it('the number of grants never goes down: a late event merging two granted runs keeps both', () => {
    ws.ingest([...dates('2026-03-08', 5), ...dates('2026-03-14', 5)].map((d) => ev('u2', 'log', d)));
    ws.run('2026-03-18');
    expect(ws.earned('c')['u2:five']).toEqual(['2026-03-12', '2026-03-18']);
    const before = ws.grants();
    // 03-13 arrives late: one run 03-08..03-18 of 11 days would earn on its 5th and 10th day (03-12, 03-17),
    // two grants, the ones already made; nothing new, nothing revoked, dates as granted.
    ws.ingest([ev('u2', 'log', '2026-03-13')]);
    expect(ws.run('2026-03-19').grants).toBe(0);
    expect(ws.grants()).toEqual(before);
    // The run goes on: 03-19..03-22 make 15 days, the third grant is earned on 03-22.
    ws.ingest(dates('2026-03-19', 4).map((d) => ev('u2', 'log', d)));
    expect(ws.run('2026-03-22').grants).toBeGreaterThanOrEqual(1);
    expect(ws.earned('c')['u2:five']).toEqual(['2026-03-12', '2026-03-18', '2026-03-22']);
  });

  it('eligibility follows the member record; grants already made stay when the partner changes', () => {
    ws.ingest(dates('2026-03-20', 2).map((d) => ev('u3', 'log', d)));
    ws.run('2026-03-23');
    expect(ws.earned('acme')['u3:pair']).toBeUndefined();
    // u3 moves to acme, u1 leaves it
    ws.ingestMembers([
      { user_id: 'u1', partner: 'globex' },
      { user_id: 'u3', partner: 'acme' },
    ]);
    ws.ingest(dates('2026-03-24', 2).map((d) => ev('u1', 'log', d)));
    ws.run('2026-03-25');
    expect(ws.earned('acme')['u3:pair']).toEqual(['2026-03-21']);
    expect(ws.earned('acme')['u1:pair']).toEqual(['2026-03-02', '2026-03-04', '2026-03-06']);
  });
});
