/** What members have earned under a campaign's rules and not yet been granted. */
import type { Campaign, Reward, Rule } from '../config/schema.js';
import type { Db } from '../store/db.js';
import { type ActivitySource, eligibleAmong, iterateMemberActivity } from '../store/activity.js';
import type { Rollups } from '../store/sources.js';
import { evaluateRule, grantCap, joinedDays } from './evaluate.js';

/** A grant a member has earned and not yet been granted. */
export interface Candidate {
  campaign_id: string;
  rule_id: string;
  /** Position of the rule in the campaign's config: the budget's tie-breaker after the date. */
  rule_index: number;
  user_id: string;
  seq: number;
  earned_on: string;
  reward: Reward;
}

export function ruleSource(campaign: Campaign, rule: Rule): ActivitySource {
  return { eventType: rule.event_type, where: rule.where, partners: campaign.eligible_partners };
}

/** The sources a campaign's rules read, for syncing their rollups before evaluation. */
export function campaignSources(campaign: Campaign): ActivitySource[] {
  return campaign.rules.map((rule) => ruleSource(campaign, rule));
}

/**
 * Every earning not yet granted, for all members (`changed` undefined) or only, for each rule, the
 * members whose events of its type changed (`changed`: event type -> members).
 * Earnings are recomputed from the whole counting window, and only those with a sequence number
 * beyond what the member was already granted become candidates: grants are final and only grow.
 */
export function campaignCandidates(
  db: Db,
  campaign: Campaign,
  window: { from: string; to: string },
  rollups: Rollups,
  changed?: Map<string, Set<string>>,
): Candidate[] {
  const out: Candidate[] = [];
  let partners = campaign.eligible_partners;
  let eligible: Set<string> | undefined;
  if (changed && partners) {
    // Eligibility once per campaign instead of a members lookup in every rule's read.
    eligible = new Set(eligibleAmong(db, [...new Set([...changed.values()].flatMap((set) => [...set]))], partners));
    partners = undefined;
  }
  campaign.rules.forEach((rule, rule_index) => {
    let users: string[] | undefined;
    if (changed) {
      users = [...(changed.get(rule.event_type) ?? [])].filter((u) => !eligible || eligible.has(u));
      if (users.length === 0) return;
    }
    const src: ActivitySource = { eventType: rule.event_type, where: rule.where, partners };
    const cap = grantCap(rule);
    const members = iterateMemberActivity(db, rollups.of(src), src, window.from, window.to, {
      users,
      grantsOf: { campaignId: campaign.id, ruleId: rule.id, cap },
    });
    for (const { user_id, dates, counts, granted } of members) {
      // Earnings are numbered from 1 and capped, so a member at the cap has nothing left to earn.
      if (granted >= cap) continue;
      for (const e of evaluateRule(rule, joinedDays(dates, counts))) {
        if (e.seq > granted) {
          out.push({ campaign_id: campaign.id, rule_id: rule.id, rule_index, user_id, seq: e.seq, earned_on: e.earned_on, reward: rule.reward });
        }
      }
    }
  });
  return out;
}
