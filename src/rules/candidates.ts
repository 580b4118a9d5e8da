import type { Campaign, Rule } from '../config/schema.js';
import type { Db } from '../store/db.js';
import { type ActivityRow, type ActivitySource, grantCounts, iterateActivity } from '../store/rules.js';
import type { Candidate } from '../grants/plan.js';
import { type DayCount, evaluateRule } from './evaluate.js';

export function ruleSource(campaign: Campaign, rule: Rule): ActivitySource {
  return { eventType: rule.event_type, where: rule.where, partners: campaign.eligible_partners };
}

/** Groups consecutive rows of the same member (rows arrive ordered by member, then day). */
export function* byUser(rows: Iterable<ActivityRow>): Generator<[string, DayCount[]]> {
  let user: string | null = null;
  let days: DayCount[] = [];
  for (const r of rows) {
    if (r.user_id !== user) {
      if (user !== null) yield [user, days];
      user = r.user_id;
      days = [];
    }
    days.push({ date: r.local_date, events: r.events });
  }
  if (user !== null) yield [user, days];
}

/**
 * Every earning not yet granted, for all members (users undefined) or only the given ones.
 * Earnings are recomputed from the whole counting window, and only those with a sequence number
 * beyond what the member was already granted become candidates: grants are final and only grow.
 */
export function campaignCandidates(db: Db, campaign: Campaign, window: { from: string; to: string }, users?: Set<string>): Candidate[] {
  const out: Candidate[] = [];
  const only = users ? [...users].sort() : undefined;
  campaign.rules.forEach((rule, rule_index) => {
    const granted = grantCounts(db, campaign.id, rule.id);
    const src = ruleSource(campaign, rule);
    for (const [user_id, days] of byUser(iterateActivity(db, src, window.from, window.to, only))) {
      if (days.length === 0) continue;
      const already = granted.get(user_id) ?? 0;
      for (const e of evaluateRule(rule, days)) {
        if (e.seq > already) {
          out.push({ campaign_id: campaign.id, rule_id: rule.id, rule_index, user_id, seq: e.seq, earned_on: e.earned_on, reward: rule.reward });
        }
      }
    }
  });
  return out;
}
