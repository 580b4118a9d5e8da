/** `rewards explain`: one member's progress on every rule, and why a grant was or was not earned. */
import type { Campaign, Config } from '../config/schema.js';
import type { Db } from '../store/db.js';
import { activityOfUser } from '../store/activity.js';
import { memberPartner } from '../store/members.js';
import { grantsOfUser, watermarks } from '../store/runs.js';
import { syncRollups } from '../store/sources.js';
import { planRun } from '../grants/run.js';
import { campaignPhase, type CampaignPhase, countingWindow, grantId } from '../rules/campaign.js';
import { type DayCount, evaluateRule, progress, type Progress, streaks } from '../rules/evaluate.js';

export interface EarningExplained {
  seq: number;
  earned_on: string;
  grant_id: string;
  /** closed: earned, but the campaign closed before any run granted it (late data, or over budget then). */
  status: 'granted' | 'pending' | 'over_budget' | 'closed';
  run_id: number | null;
  file: string | null;
}

export interface RuleExplained {
  rule_id: string;
  type: string;
  event_type: string;
  /** The rule's filter on event properties, as configured: only matching events count. */
  where: Record<string, unknown> | null;
  eligible: boolean;
  counted_dates: number;
  counted_events: number;
  first_date: string | null;
  last_date: string | null;
  /** Streak rules only (null for the others, whose measure is days or events). */
  current_streak: number | null;
  longest_streak: { length: number; from: string; to: string } | null;
  earnings: EarningExplained[];
  /** Why the next grant is not (yet) earned, in words. */
  not_earned: string | null;
  /** The same as figures (measure, needed, have, window, dates_missing); null before the campaign starts or for a member not eligible. */
  progress: Omit<Progress, 'text'> | null;
}

export interface CampaignExplained {
  campaign_id: string;
  phase: CampaignPhase;
  window: { from: string; to: string } | null;
  eligible: boolean;
  eligibility: string;
  rules: RuleExplained[];
}

function eligibility(c: Campaign, member: { found: boolean; partner: string | null }): { ok: boolean; why: string } {
  if (!c.eligible_partners) return { ok: true, why: 'eligible: the campaign is open to every member' };
  if (!member.found) return { ok: false, why: `not eligible: no member record (the campaign is for partners ${c.eligible_partners.join(', ')})` };
  if (member.partner && c.eligible_partners.includes(member.partner)) return { ok: true, why: `eligible: partner is ${member.partner}` };
  return { ok: false, why: `not eligible: partner is ${member.partner ?? '(none)'}; the campaign is for ${c.eligible_partners.join(', ')}` };
}

/** Everything an analyst needs to see why a member did or did not earn, computed from the database. */
export function explainMember(db: Db, config: Config, userId: string, campaignIds: string[], asOf: string): CampaignExplained[] {
  // One read transaction: the member's days, the rollups of `where` rules (synced without writing:
  // explain takes no lock) and the budget planning all see the same snapshot.
  return db.transaction(() => explainIn(db, config, userId, campaignIds, asOf))();
}

function explainIn(db: Db, config: Config, userId: string, campaignIds: string[], asOf: string): CampaignExplained[] {
  const member = memberPartner(db, userId);
  const campaigns = campaignIds.length ? config.campaigns.filter((c) => campaignIds.includes(c.id)) : config.campaigns;
  const counted = campaigns.filter((c) => campaignPhase(c, asOf) !== 'not_started');
  const rollups = syncRollups(db, counted.flatMap((c) => c.rules.map((r) => ({ eventType: r.event_type, where: r.where }))), watermarks(db).events, { write: false });
  return campaigns.map((c) => {
    const phase = campaignPhase(c, asOf);
    const elig = eligibility(c, member);
    const window = phase === 'not_started' ? null : countingWindow(c, asOf);
    const granted = grantsOfUser(db, userId, c.id);
    // Whether an earning not yet granted would be over budget depends on every member's earnings before
    // it in budget order: ask the planner (once per campaign, and only when the campaign has a budget).
    let over: Set<string> | undefined;
    const overBudget = (ruleId: string, seq: number): boolean => {
      if (c.budget_cents === undefined) return false;
      over ??= new Set(
        planRun(db, config, { asOf, campaignIds: [c.id], full: true, rollups })
          .campaigns.flatMap((p) => p.overBudget)
          .filter((g) => g.user_id === userId)
          .map((g) => `${g.rule_id}\u0000${g.seq}`),
      );
      return over.has(`${ruleId}\u0000${seq}`);
    };
    const rules = c.rules.map((rule): RuleExplained => {
      const src = { eventType: rule.event_type, where: rule.where };
      const days: DayCount[] = window
        ? activityOfUser(db, rollups.of(src), src, window.from, window.to, userId).map((r) => ({ date: r.local_date, events: r.events }))
        : [];
      const { longest, last } = streaks(days);
      const earnings = elig.ok ? evaluateRule(rule, days) : [];
      const mine = granted.filter((g) => g.rule_id === rule.id);
      const explained = earnings.map((e): EarningExplained => {
        const g = mine.find((x) => x.seq === e.seq);
        if (g) return { seq: e.seq, earned_on: g.earned_on, grant_id: g.grant_id, status: 'granted', run_id: g.run_id, file: g.file };
        const status = phase === 'closed' ? 'closed' : overBudget(rule.id, e.seq) ? 'over_budget' : 'pending';
        return { seq: e.seq, earned_on: e.earned_on, grant_id: grantId(c.id, rule.id, userId, e.seq), status, run_id: null, file: null };
      });
      // Grants made earlier stay valid even if a recomputation would now date them differently.
      for (const g of mine) {
        if (!explained.some((x) => x.seq === g.seq)) {
          explained.push({ seq: g.seq, earned_on: g.earned_on, grant_id: g.grant_id, status: 'granted', run_id: g.run_id, file: g.file });
        }
      }
      explained.sort((a, b) => a.seq - b.seq);
      let notEarned: string | null;
      let figures: Omit<Progress, 'text'> | null = null;
      if (phase === 'not_started') notEarned = `the campaign starts on ${c.start}`;
      else if (!elig.ok) notEarned = elig.why;
      else ({ text: notEarned, ...figures } = progress(rule, days, earnings, window!, c.end));
      if (phase === 'closed' && notEarned) notEarned = `the campaign is closed; ${notEarned}`;
      const lastDate = days.length ? days[days.length - 1]!.date : null;
      return {
        rule_id: rule.id,
        type: rule.type,
        event_type: rule.event_type,
        where: rule.where ?? null,
        eligible: elig.ok,
        counted_dates: days.length,
        counted_events: days.reduce((n, d) => n + d.events, 0),
        first_date: days[0]?.date ?? null,
        last_date: lastDate,
        current_streak: rule.type !== 'streak' ? null : last && window && last.to === window.to ? last.length : 0,
        longest_streak: rule.type === 'streak' ? longest : null,
        earnings: explained,
        not_earned: notEarned,
        progress: figures,
      };
    });
    return { campaign_id: c.id, phase, window, eligible: elig.ok, eligibility: elig.why, rules };
  });
}
