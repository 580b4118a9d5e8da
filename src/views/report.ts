/** `rewards report`: per campaign and rule, members taking part and earning, grants, amounts, budget. */
import type { Campaign, Config } from '../config/schema.js';
import type { Db } from '../store/db.js';
import { countActiveMembers, iterateMemberActivity } from '../store/activity.js';
import { grantsByDay, membersEarned, ruleTotals } from '../store/campaigns.js';
import { addDays } from '../time/datetime.js';
import { watermarks } from '../store/runs.js';
import { type Rollups, syncRollups } from '../store/sources.js';
import { planRun } from '../grants/run.js';
import { campaignPhase, type CampaignPhase, countingWindow } from '../rules/campaign.js';
import { campaignSources, ruleSource } from '../rules/candidates.js';
import { joinedDays, streaks } from '../rules/evaluate.js';

export interface ReportRow {
  campaign_id: string;
  phase: CampaignPhase;
  /** A rule's id, or `(total)` for the campaign's total row. */
  rule_id: string;
  /** Null on a total row: members counted by different rules do not add up. */
  members_counted: number | null;
  members_earned: number;
  grants: number;
  amount_cents: number;
  /** The rules' currency (`mixed` on a total row of rules paid in several). */
  currency: string;
  budget_cents: number | null;
  budget_used_cents: number;
  budget_left_cents: number | null;
  over_budget: number;
}

/** Per campaign and rule: who took part, who earned, what was granted, and the budget, as of `asOf`; then the campaign's total. */
export function campaignReport(db: Db, config: Config, campaignIds: string[], asOf: string): ReportRow[] {
  // One read transaction: members counted (from rollups synced without writing: report takes no
  // lock), grants and the budget planning all see the same snapshot.
  return db.transaction(() => reportIn(db, config, campaignIds, asOf, rollupsOf(db, config, campaignIds, asOf)))();
}

function selected(config: Config, campaignIds: string[]): Campaign[] {
  return campaignIds.length ? config.campaigns.filter((c) => campaignIds.includes(c.id)) : config.campaigns;
}

/** The rollups of the campaigns counted as of the date, synced without writing: report takes no lock. */
function rollupsOf(db: Db, config: Config, campaignIds: string[], asOf: string): Rollups {
  const counted = selected(config, campaignIds).filter((c) => campaignPhase(c, asOf) !== 'not_started');
  return syncRollups(db, counted.flatMap(campaignSources), watermarks(db).events, { write: false });
}

function reportIn(db: Db, config: Config, campaignIds: string[], asOf: string, rollups: Rollups): ReportRow[] {
  const rows: ReportRow[] = [];
  const campaigns = selected(config, campaignIds);
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
    const all = ruleTotals(db, c.id, asOf);
    const totals = new Map(all.map((t) => [t.rule_id, t]));
    // Spent as of the date: grants earned up to it (a report of an earlier date shows that day's budget).
    const used = all.reduce((n, t) => n + t.amount_cents, 0);
    const budget = { budget_cents: c.budget_cents ?? null, budget_used_cents: used, budget_left_cents: c.budget_cents === undefined ? null : c.budget_cents - used };
    const mine: ReportRow[] = [];
    for (const rule of c.rules) {
      const t = totals.get(rule.id);
      mine.push({
        campaign_id: c.id,
        phase,
        rule_id: rule.id,
        members_counted: window ? countActiveMembers(db, rollups.of(ruleSource(c, rule)), ruleSource(c, rule), window.from, window.to) : 0,
        members_earned: t?.members_earned ?? 0,
        grants: t?.grants ?? 0,
        amount_cents: t?.amount_cents ?? 0,
        currency: rule.reward.currency,
        ...budget,
        over_budget: overBudget.get(`${c.id}\u0000${rule.id}`) ?? 0,
      });
    }
    const currencies = [...new Set(c.rules.map((r) => r.reward.currency))];
    mine.push({
      campaign_id: c.id,
      phase,
      rule_id: '(total)',
      members_counted: null,
      members_earned: membersEarned(db, c.id, asOf),
      grants: all.reduce((n, t) => n + t.grants, 0),
      amount_cents: used,
      currency: currencies.length === 1 ? currencies[0]! : 'mixed',
      ...budget,
      over_budget: mine.reduce((n, r) => n + r.over_budget, 0),
    });
    rows.push(...mine);
  }
  return rows;
}

/** One period of a campaign's series: a rule's grants earned in it, and the campaign's spend so far. */
export interface SeriesRow {
  campaign_id: string;
  /** The day, or the Monday that starts the week. */
  period: string;
  rule_id: string;
  grants: number;
  amount_cents: number;
  currency: string;
  /** The campaign's amount earned up to the end of this period, all rules: the budget burn-up. */
  campaign_cumulative_cents: number;
  budget_left_cents: number | null;
}

/** The Monday of a date's week (ISO weeks). */
function weekOf(date: string): string {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  const dow = (new Date(Date.UTC(y, m - 1, d)).getUTCDay() + 6) % 7;
  return addDays(date, -dow);
}

/** Per campaign, period and rule (periods with grants only): what was earned when, up to `asOf`. */
export function campaignSeries(db: Db, config: Config, campaignIds: string[], asOf: string, by: 'day' | 'week'): SeriesRow[] {
  const campaigns = selected(config, campaignIds);
  const out: SeriesRow[] = [];
  for (const c of campaigns) {
    const currency = new Map(c.rules.map((r) => [r.id, r.reward.currency]));
    const cells = new Map<string, SeriesRow>();
    for (const g of grantsByDay(db, c.id, asOf)) {
      const period = by === 'day' ? g.earned_on : weekOf(g.earned_on);
      const key = `${period}\u0000${g.rule_id}`;
      const cell = cells.get(key) ?? { campaign_id: c.id, period, rule_id: g.rule_id, grants: 0, amount_cents: 0, currency: currency.get(g.rule_id) ?? '', campaign_cumulative_cents: 0, budget_left_cents: null };
      cell.grants += g.grants;
      cell.amount_cents += g.amount_cents;
      cells.set(key, cell);
    }
    const rows = [...cells.values()].sort((a, b) => (a.period !== b.period ? (a.period < b.period ? -1 : 1) : a.rule_id < b.rule_id ? -1 : a.rule_id > b.rule_id ? 1 : 0));
    let spent = 0;
    for (let i = 0; i < rows.length; i++) {
      const period = rows[i]!.period;
      let j = i;
      while (j < rows.length && rows[j]!.period === period) spent += rows[j++]!.amount_cents;
      for (let k = i; k < j; k++) {
        rows[k]!.campaign_cumulative_cents = spent;
        rows[k]!.budget_left_cents = c.budget_cents === undefined ? null : c.budget_cents - spent;
      }
      i = j - 1;
    }
    out.push(...rows);
  }
  return out;
}

/** Members of a streak rule by the longest run of consecutive counted days in the counting window. */
export interface StreakLengths {
  campaign_id: string;
  rule_id: string;
  /** The streak the rule asks for: runs this long or longer are counted together. */
  days: number;
  /** members[i]: members whose longest run is i + 1 days (the last: `days` or more). */
  members: number[];
}

function streakLengths(db: Db, campaigns: Campaign[], asOf: string, rollups: Rollups): StreakLengths[] {
  const out: StreakLengths[] = [];
  for (const c of campaigns) {
    const window = countingWindow(c, asOf);
    for (const rule of c.rules) {
      if (rule.type !== 'streak') continue;
      const members = new Array<number>(rule.days).fill(0);
      const src = ruleSource(c, rule);
      for (const m of iterateMemberActivity(db, rollups.of(src), src, window.from, window.to)) {
        members[Math.min(streaks(joinedDays(m.dates, m.counts)).longest!.length, rule.days) - 1]!++;
      }
      out.push({ campaign_id: c.id, rule_id: rule.id, days: rule.days, members });
    }
  }
  return out;
}

/** Everything `report --format html` shows: aggregates only, never a member id. */
export interface ReportData {
  as_of: string;
  by: 'day' | 'week';
  rows: ReportRow[];
  series: SeriesRow[];
  streaks: StreakLengths[];
  /** The counting window of each campaign that has started: the charts' time axis. */
  windows: { campaign_id: string; from: string; to: string }[];
}

/** The table, the series and the streak lengths, read in one transaction: the page's figures agree with each other. */
export function reportData(db: Db, config: Config, campaignIds: string[], asOf: string, by: 'day' | 'week'): ReportData {
  return db.transaction(() => {
    const started = selected(config, campaignIds).filter((c) => campaignPhase(c, asOf) !== 'not_started');
    const rollups = rollupsOf(db, config, campaignIds, asOf);
    return {
      as_of: asOf,
      by,
      rows: reportIn(db, config, campaignIds, asOf, rollups),
      series: campaignSeries(db, config, campaignIds, asOf, by),
      streaks: streakLengths(db, started, asOf, rollups),
      windows: started.map((c) => ({ campaign_id: c.id, ...countingWindow(c, asOf) })),
    };
  })();
}
