/** Issue 15: a dry run answers the costing question on stdout: per rule, already granted, new, over budget and total, with currency. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEMO } from '../helpers.js';
import { Workspace } from '../workspace.js';

const w = new Workspace({ demo: true, prefix: 'rewards-cost-' });
afterAll(() => w.cleanup());

describe('run --dry-run costs', () => {
  w.ok(['--quiet', 'nightly', '--as-of', '2026-03-31']);
  const granted = w.query<{ rule_id: string; n: number; cents: number }>(
    "SELECT rule_id, count(*) AS n, sum(amount_cents) AS cents FROM grants WHERE campaign_id = 'spring-2026' GROUP BY rule_id",
  );
  const of = (rule: string) => granted.find((g) => g.rule_id === rule) ?? { n: 0, cents: 0 };

  it('prints the table on stdout, even with --quiet, and --json carries the same figures', () => {
    const r = w.cli(['--quiet', 'run', '--dry-run', '--as-of', '2026-03-31']);
    expect([r.code, r.stderr]).toEqual([0, '']);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^campaign\s+rule\s+currency\s+granted\s+amount\s+new\s+amount\s+over budget\s+amount\s+total\s+amount$/);
    const five = lines.find((l) => /^spring-2026\s+five-days\s/.test(l))!.split(/\s+/);
    expect(five).toEqual(['spring-2026', 'five-days', 'USD', String(of('five-days').n), (of('five-days').cents / 100).toFixed(2), '0', '0.00', '0', '0.00', String(of('five-days').n), (of('five-days').cents / 100).toFixed(2)]);
    const j = w.ok(['--json', 'run', '--dry-run', '--as-of', '2026-03-31']);
    expect(j.costs.map((c: { rule_id: string }) => c.rule_id)).toEqual(['birth', 'five-days', 'active-10-of-14', 'ten-symptoms']);
    expect(j.costs[1]).toEqual({
      campaign_id: 'spring-2026',
      rule_id: 'five-days',
      currency: 'USD',
      already_granted: { grants: of('five-days').n, amount_cents: of('five-days').cents },
      new: { grants: 0, amount_cents: 0 },
      over_budget: { grants: 0, amount_cents: 0 },
      total: { grants: of('five-days').n, amount_cents: of('five-days').cents },
    });
  });

  it('the analysts\' views add up to the grants table', () => {
    const progress = w.query<{ rule_id: string; grants: number; amount_cents: number; waiting_over_budget: number }>(
      'SELECT rule_id, grants, amount_cents, waiting_over_budget FROM campaign_progress ORDER BY rule_id',
    );
    expect(progress).toEqual([...granted].sort((a, b) => (a.rule_id < b.rule_id ? -1 : 1)).map((g) => ({ rule_id: g.rule_id, grants: g.n, amount_cents: g.cents, waiting_over_budget: 0 })));
    const byPartner = w.query<{ n: number; cents: number }>('SELECT sum(grants) AS n, sum(amount_cents) AS cents FROM grants_by_partner');
    expect(byPartner).toEqual([{ n: granted.reduce((a, g) => a + g.n, 0), cents: granted.reduce((a, g) => a + g.cents, 0) }]);
    const days = w.query<{ n: number }>("SELECT sum(events) AS n FROM member_days WHERE user_id = 'm0003'");
    expect(days).toEqual(w.query("SELECT sum(events) AS n FROM daily_activity WHERE user_id = 'm0003'"));
  });

  it('warns, in validate and in a dry run, about event types and where keys no stored event has', () => {
    const c = JSON.parse(readFileSync(join(DEMO, 'rewards.config.json'), 'utf8'));
    c.campaigns[0].rules[1].event_type = 'data_loged';
    c.campaigns[0].rules[2].where = { sourze: ['app'] };
    const typo = w.writeConfig(c, join(w.dir, 'typo.json'));
    const expected = [
      `rewards: ${typo}: campaigns[0].rules[1].event_type: no event of type "data_loged" is stored; check the spelling against the exports`,
      `rewards: ${typo}: campaigns[0].rules[2].where.sourze: no stored "data_logged" event has a property "sourze"`,
    ];
    const v = w.cli(['--config', typo, 'validate']);
    expect([v.code, v.stderr]).toEqual([0, [...expected, `${typo}: valid`, ''].join('\n')]);
    const d = w.cli(['--config', typo, '--quiet', 'run', '--dry-run', '--as-of', '2026-03-31']);
    expect(d.code).toBe(0);
    expect(d.stderr).toBe(expected.map((l) => l.replace(`${typo}: `, '')).join('\n') + '\n');
  });

  it('report --by week: each rule\'s grants per week (Mondays), and the campaign\'s spend so far, adding up to the grants', () => {
    const j = w.ok(['--json', 'report', '--by', 'week', '--as-of', '2026-03-31']);
    expect(j.by).toBe('week');
    const series = j.series as { period: string; rule_id: string; grants: number; amount_cents: number; campaign_cumulative_cents: number; budget_left_cents: number }[];
    for (const r of series) expect(new Date(`${r.period}T00:00:00Z`).getUTCDay(), r.period).toBe(1);
    for (const g of granted) {
      const mine = series.filter((r) => r.rule_id === g.rule_id);
      expect([mine.reduce((n, r) => n + r.grants, 0), mine.reduce((n, r) => n + r.amount_cents, 0)], g.rule_id).toEqual([g.n, g.cents]);
    }
    const total = granted.reduce((n, g) => n + g.cents, 0);
    expect(series[series.length - 1]).toMatchObject({ campaign_cumulative_cents: total, budget_left_cents: 120_000 - total });
    const days = w.ok(['--json', 'report', '--by', 'day', '--as-of', '2026-03-31']).series as { grants: number }[];
    expect(days.reduce((n, r) => n + r.grants, 0)).toBe(granted.reduce((n, g) => n + g.n, 0));
    expect(w.cli(['report', '--by', 'month']).code).toBe(64);
  });

  it('costs a candidate rule over all history beside what is already granted', () => {
    const c = JSON.parse(readFileSync(join(DEMO, 'rewards.config.json'), 'utf8'));
    c.campaigns[0].budget_cents = 1_000_000;
    c.campaigns[0].rules.push({ id: 'three-days', type: 'streak', event_type: 'data_logged', days: 3, reward: { code: 'GIFT-2', amount_cents: 200, currency: 'USD' } });
    const candidate = w.writeConfig(c, join(w.dir, 'candidate.json'));
    const j = w.ok(['--config', candidate, '--json', 'run', '--dry-run', '--as-of', '2026-03-31']);
    const three = j.costs.find((x: { rule_id: string }) => x.rule_id === 'three-days');
    expect(three.already_granted).toEqual({ grants: 0, amount_cents: 0 });
    expect(three.new.grants).toBeGreaterThan(0);
    expect(three.new.amount_cents).toBe(three.new.grants * 200);
    expect(three.total).toEqual(three.new);
    const birth = j.costs.find((x: { rule_id: string }) => x.rule_id === 'birth');
    expect(birth.total).toEqual({ grants: of('birth').n, amount_cents: of('birth').cents });
  });
});
