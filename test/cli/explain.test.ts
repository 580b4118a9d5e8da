// `rewards explain`: counted days, streaks, each earning with its grant id and file, and why not earned.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { join } from 'node:path';
import { config, explainWorkspace } from '../rules/explain-fixture.js';
import type { Workspace } from '../workspace.js';

vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

let ws: Workspace;
let run: any;
beforeAll(() => {
  ({ ws, run } = explainWorkspace());
});
afterAll(() => ws.cleanup());

const text = (...args: string[]) => ws.ok(['explain', ...args]).stdout as string;

describe('rewards explain', () => {
  it('names counted days, streaks, each earning with its grant id and file, and what is missing', () => {
    const [g] = ws.grants().filter((x) => x.user_id === 'u1' && x.rule_id === 'five');
    const out = text('--user', 'u1', '--campaign', 'c1', '--as-of', '2026-03-20');
    expect(out).toContain('member u1, as of 2026-03-20');
    expect(out).toContain('c1 (open, counting 2026-03-01..2026-03-20): eligible: partner is acme');
    expect(out).toContain(
      'five [streak data_logged]: 13 counted day(s), 13 event(s) from 2026-03-01 to 2026-03-14, longest streak 9 (2026-03-01..2026-03-09), current 0',
    );
    expect(out).toContain(`#1 earned 2026-03-05  grant ${g!.grant_id}  granted in run 1, ${run.file}`);
    expect(out).toContain('next: 4 of 5 consecutive days: 2026-03-11..2026-03-14; 2026-03-15 has no data_logged');
    expect(out).toContain('three [event_count symptom_logged]: 0 counted day(s), 0 event(s)');
    expect(out).toContain('next: 0 of 3 symptom_logged events');
    expect(out).not.toContain('c2 (');
  });

  it('gives the reasons: missing day, not eligible, over budget, the limit reached', () => {
    expect(text('--user', 'u5', '--as-of', '2026-03-20')).toContain('4 of 5 consecutive days: 2026-03-01..2026-03-04; 2026-03-05 has no data_logged');
    const u2 = text('--user', 'u2', '--as-of', '2026-03-20');
    expect(u2).toContain('c1 (open, counting 2026-03-01..2026-03-20): not eligible: partner is globex');
    expect(u2).toContain('next: not eligible: partner is globex');
    // u2 is eligible for c2 and was granted there
    expect(u2).toMatch(/c2 \(open[^\n]*\): eligible: the campaign is open to every member\n {2}first \[first_event data_logged\][^\n]*\n {4}#1 earned 2026-03-01 {2}grant [0-9a-f]{32} {2}granted in run 1/);
    expect(text('--user', 'u4', '--campaign', 'c1', '--as-of', '2026-03-20')).toMatch(/#1 earned 2026-03-10 {2}grant [0-9a-f]{32} {2}earned, not granted: over budget/);
    expect(text('--user', 'u3', '--campaign', 'c1', '--as-of', '2026-03-20')).toContain('next: reached the limit of 1 grant(s) per member');
    // A member nothing is stored of is not explained: 66, with the reason (test/cli/one-voice.test.ts).
    const nobody = ws.cli(['explain', '--user', 'nobody', '--campaign', 'c1', '--as-of', '2026-03-20']);
    expect([nobody.code, nobody.stdout]).toEqual([66, '']);
  });

  it('--json: the same, for scripts', () => {
    const j = ws.ok(['--json', 'explain', '--user', 'u4', '--as-of', '2026-03-20']);
    expect(j).toMatchObject({ user_id: 'u4', as_of: '2026-03-20' });
    expect(j.campaigns.map((c: any) => c.campaign_id)).toEqual(['c1', 'c2']);
    const five = j.campaigns[0].rules.find((r: any) => r.rule_id === 'five');
    expect(five).toMatchObject({
      type: 'streak',
      eligible: true,
      counted_dates: 5,
      counted_events: 5,
      first_date: '2026-03-06',
      last_date: '2026-03-10',
      longest_streak: { length: 5, from: '2026-03-06', to: '2026-03-10' },
      earnings: [{ seq: 1, earned_on: '2026-03-10', status: 'over_budget', run_id: null, file: null }],
    });
    // The grant id it will have, whichever run grants it.
    const c2 = j.campaigns[1].rules[0];
    expect(c2.earnings).toEqual([{ seq: 1, earned_on: '2026-03-06', status: 'granted', run_id: 1, file: run.file, grant_id: ws.grants().find((g) => g.user_id === 'u4' && g.campaign_id === 'c2')!.grant_id }]);
    expect(five.earnings[0].grant_id).toMatch(/^[0-9a-f]{32}$/);
    expect(five.earnings[0].grant_id).not.toBe(c2.earnings[0].grant_id);
  });

  it('an earning after the last run is pending: the next run grants it, under the id explain showed', () => {
    ws.ingest([{ user_id: 'u6', event_type: 'data_logged', occurred_at: '2026-03-15T12:00:00Z' }]);
    const j = ws.ok(['--json', 'explain', '--user', 'u6', '--campaign', 'c2', '--as-of', '2026-03-20']);
    const [e] = j.campaigns[0].rules[0].earnings;
    expect(e).toMatchObject({ seq: 1, earned_on: '2026-03-15', status: 'pending', run_id: null, file: null });
    expect(text('--user', 'u6', '--campaign', 'c2', '--as-of', '2026-03-20')).toContain(`#1 earned 2026-03-15  grant ${e.grant_id}  earned, not yet granted: the next run grants it`);
    const r = ws.run('2026-03-20');
    expect(r.grants).toBe(1);
    expect(ws.grants().find((g) => g.user_id === 'u6')).toMatchObject({ grant_id: e.grant_id, earned_on: '2026-03-15', run_id: r.run_id });
  });

  it('over budget follows budget order: an earning that fits the budget left is over budget when earlier ones take it', () => {
    // With 1300, 500 is left: u4's five (03-10, 500) comes first in budget order and takes it all,
    // so u7's three (03-13, 300) would be over budget although 300 <= 500.
    const candidate = ws.writeConfig({ ...config, campaigns: [{ ...config.campaigns[0], budget_cents: 1300 }, config.campaigns[1]] }, join(ws.dir, 'candidate.json'));
    ws.ingestMembers([{ user_id: 'u7', partner: 'acme' }]);
    ws.ingest(['2026-03-11', '2026-03-12', '2026-03-13'].map((d) => ({ user_id: 'u7', event_type: 'symptom_logged', occurred_at: `${d}T12:00:00Z` })));
    const explain = (u: string) => ws.ok(['--config', candidate, '--json', 'explain', '--user', u, '--campaign', 'c1', '--as-of', '2026-03-20']).campaigns[0].rules;
    expect(explain('u4')[0].earnings).toMatchObject([{ seq: 1, earned_on: '2026-03-10', status: 'pending' }]);
    expect(explain('u7')[1].earnings).toMatchObject([{ seq: 1, earned_on: '2026-03-13', status: 'over_budget' }]);
    // and a run with that config agrees
    const dry = ws.ok(['--config', candidate, '--json', 'run', '--dry-run', '--as-of', '2026-03-20', '--campaign', 'c1']);
    expect(dry.rows.map((r: any) => [r.user_id, r.rule_id, r.over_budget])).toEqual([
      ['u4', 'five', false],
      ['u7', 'three', true],
    ]);
  });

  it('before the start and after the close', () => {
    expect(text('--user', 'u1', '--campaign', 'c1', '--as-of', '2026-02-20')).toContain('the campaign starts on 2026-03-01');
    const closed = text('--user', 'u5', '--campaign', 'c1', '--as-of', '2026-04-08');
    expect(closed).toContain('c1 (closed, counting 2026-03-01..2026-03-31)');
    expect(closed).toContain('the campaign is closed; 4 of 5 consecutive days: 2026-03-01..2026-03-04; 2026-03-05 has no data_logged');
  });

  it('an unknown --campaign exits 64; a missing database exits 66', () => {
    expect(ws.cli(['explain', '--user', 'u1', '--campaign', 'nope']).code).toBe(64);
    expect(ws.cli(['--db', ws.db + '.missing', 'explain', '--user', 'u1']).code).toBe(66);
  });
});
