/** `rewards report`: per campaign and rule, members taking part and earning, grants, amounts, budget. */
import type { Config } from '../config/schema.js';
import type { Db } from '../store/db.js';
import { countActiveMembers } from '../store/activity.js';
import { campaignSpent, ruleTotals } from '../store/campaigns.js';
import { watermarks } from '../store/runs.js';
import { syncRollups } from '../store/sources.js';
import { planRun } from '../grants/run.js';
import { campaignPhase, type CampaignPhase, countingWindow } from '../rules/campaign.js';
import { campaignSources, ruleSource } from '../rules/candidates.js';

export interface ReportRow {
  campaign_id: string;
  phase: CampaignPhase;
  rule_id: string;
  members_counted: number;
  members_earned: number;
  grants: number;
  amount_cents: number;
  budget_cents: number | null;
  budget_used_cents: number;
  budget_left_cents: number | null;
  over_budget: number;
}

/** Per campaign and rule: who took part, who earned, what was granted, and the budget. */
export function campaignReport(db: Db, config: Config, campaignIds: string[], asOf: string): ReportRow[] {
  // One read transaction: members counted (from rollups synced without writing: report takes no
  // lock), grants and the budget planning all see the same snapshot.
  return db.transaction(() => reportIn(db, config, campaignIds, asOf))();
}

function reportIn(db: Db, config: Config, campaignIds: string[], asOf: string): ReportRow[] {
  const rows: ReportRow[] = [];
  const campaigns = campaignIds.length ? config.campaigns.filter((c) => campaignIds.includes(c.id)) : config.campaigns;
  const counted = campaigns.filter((c) => campaignPhase(c, asOf) !== 'not_started');
  const rollups = syncRollups(db, counted.flatMap(campaignSources), watermarks(db).events, { write: false });
  // Grants waiting over budget, per rule: what a run as of this date would leave over budget.
  const overBudget = new Map<string, number>();
  for (const p of planRun(db, config, { asOf, campaignIds: campaigns.map((c) => c.id), full: true, rollups }).campaigns) {
    for (const g of p.overBudget) {
      const key = `${g.campaign_id}\u0000${g.rule_id}`;
      overBudget.set(key, (overBudget.get(key) ?? 0) + 1);
    }
  }
  for (const c of campaigns) {
    const phase = campaignPhase(c, asOf);
    const window = phase === 'not_started' ? null : countingWindow(c, asOf);
    const totals = new Map(ruleTotals(db, c.id, asOf).map((t) => [t.rule_id, t]));
    const used = campaignSpent(db, c.id);
    for (const rule of c.rules) {
      const t = totals.get(rule.id);
      rows.push({
        campaign_id: c.id,
        phase,
        rule_id: rule.id,
        members_counted: window ? countActiveMembers(db, rollups.of(ruleSource(c, rule)), ruleSource(c, rule), window.from, window.to) : 0,
        members_earned: t?.members_earned ?? 0,
        grants: t?.grants ?? 0,
        amount_cents: t?.amount_cents ?? 0,
        budget_cents: c.budget_cents ?? null,
        budget_used_cents: used,
        budget_left_cents: c.budget_cents === undefined ? null : c.budget_cents - used,
        over_budget: overBudget.get(`${c.id}\u0000${rule.id}`) ?? 0,
      });
    }
  }
  return rows;
}
