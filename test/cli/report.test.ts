// `rewards report`: per campaign and rule, members counted and earned, grants, amount, budget used and
// left, and grants waiting over budget; as a table, CSV and JSON.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { explainWorkspace } from '../rules/explain-fixture.js';
import type { Workspace } from '../workspace.js';

vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

let ws: Workspace;
beforeAll(() => {
  ({ ws } = explainWorkspace());
});
afterAll(() => ws.cleanup());

// As of 2026-03-20: c1 spent 300 (u3 three) + 500 (u1 five) of 1000; u4's five (500) waits over budget.
const expected = [
  { campaign_id: 'c1', phase: 'open', rule_id: 'five', members_counted: 3, members_earned: 1, grants: 1, amount_cents: 500, currency: 'USD', budget_cents: 1000, budget_used_cents: 800, budget_left_cents: 200, over_budget: 1 },
  { campaign_id: 'c1', phase: 'open', rule_id: 'three', members_counted: 1, members_earned: 1, grants: 1, amount_cents: 300, currency: 'USD', budget_cents: 1000, budget_used_cents: 800, budget_left_cents: 200, over_budget: 0 },
  { campaign_id: 'c1', phase: 'open', rule_id: '(total)', members_counted: null, members_earned: 2, grants: 2, amount_cents: 800, currency: 'USD', budget_cents: 1000, budget_used_cents: 800, budget_left_cents: 200, over_budget: 1 },
  { campaign_id: 'c2', phase: 'open', rule_id: 'first', members_counted: 4, members_earned: 4, grants: 4, amount_cents: 400, currency: 'USD', budget_cents: null, budget_used_cents: 400, budget_left_cents: null, over_budget: 0 },
  { campaign_id: 'c2', phase: 'open', rule_id: '(total)', members_counted: null, members_earned: 4, grants: 4, amount_cents: 400, currency: 'USD', budget_cents: null, budget_used_cents: 400, budget_left_cents: null, over_budget: 0 },
];

describe('rewards report', () => {
  it('--format json: per campaign and rule figures', () => {
    const j = JSON.parse(ws.ok(['report', '--as-of', '2026-03-20', '--format', 'json']).stdout);
    expect(j).toEqual({ as_of: '2026-03-20', rows: expected });
    // --json is the same
    expect(ws.ok(['--json', 'report', '--as-of', '2026-03-20'])).toEqual(j);
  });

  it('--format csv and the table carry the same figures; --campaign limits', () => {
    const csv = ws.ok(['report', '--as-of', '2026-03-20', '--format', 'csv', '--campaign', 'c1']).stdout as string;
    expect(csv).toBe(
      [
        'campaign_id,phase,rule_id,members_counted,members_earned,grants,amount_cents,currency,budget_cents,budget_used_cents,budget_left_cents,over_budget',
        'c1,open,five,3,1,1,500,USD,1000,800,200,1',
        'c1,open,three,1,1,1,300,USD,1000,800,200,0',
        'c1,open,(total),,2,2,800,USD,1000,800,200,1',
        '',
      ].join('\n'),
    );
    const table = (ws.ok(['report', '--as-of', '2026-03-20']).stdout as string).split('\n');
    expect(table[1]).toMatch(/^campaign +phase +rule +counted +earned +grants +amount +currency +budget +used +left +over budget$/);
    expect(table[2]!.split(/ {2,}/)).toEqual(['c1', 'open', 'five', '3', '1', '1', '5.00', 'USD', '10.00', '8.00', '2.00', '1']);
    expect(table[3]!.split(/ {2,}/)).toEqual(['c1', 'open', 'three', '1', '1', '1', '3.00', 'USD', '10.00', '8.00', '2.00', '0']);
    expect(table[4]!.split(/ {2,}/)).toEqual(['c1', 'open', '(total)', '-', '2', '2', '8.00', 'USD', '10.00', '8.00', '2.00', '1']);
    expect(table[5]!.split(/ {2,}/)).toEqual(['c2', 'open', 'first', '4', '4', '4', '4.00', 'USD', '-', '4.00', '-', '0']);
  });

  it('earlier as-of dates count only what was earned by then; before the start nothing', () => {
    const j = ws.ok(['--json', 'report', '--as-of', '2026-03-04', '--campaign', 'c1']);
    expect(j.rows.map((r: any) => [r.rule_id, r.members_counted, r.members_earned, r.grants, r.budget_used_cents])).toEqual([
      ['five', 2, 0, 0, 300],
      ['three', 1, 1, 1, 300],
      ['(total)', null, 1, 1, 300],
    ]);
    const before = ws.ok(['--json', 'report', '--as-of', '2026-02-28', '--campaign', 'c2']);
    expect(before.rows).toMatchObject([
      { phase: 'not_started', rule_id: 'first', members_counted: 0, grants: 0 },
      { phase: 'not_started', rule_id: '(total)', members_counted: null, grants: 0, budget_used_cents: 0 },
    ]);
  });

  it('a bad --format or unknown --campaign exits 64', () => {
    expect(ws.cli(['report', '--format', 'xml']).code).toBe(64);
    expect(ws.cli(['report', '--campaign', 'nope']).code).toBe(64);
  });
});
