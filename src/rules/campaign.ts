/** A campaign's calendar: its phase on a date, the window it counts, its fingerprint, grant ids. */
import { createHash } from 'node:crypto';
import type { Campaign } from '../config/schema.js';
import { addDays } from '../time/datetime.js';

export type CampaignPhase = 'not_started' | 'open' | 'closed';

/**
 * A campaign is evaluated while `start <= asOf <= end + grace_days`; the grace days let late events
 * for the campaign's last days still earn. After that it is closed and never grants again.
 */
export function campaignPhase(c: Campaign, asOf: string): CampaignPhase {
  if (asOf < c.start) return 'not_started';
  if (asOf > addDays(c.end, c.grace_days)) return 'closed';
  return 'open';
}

/** The local dates whose events count for a run as of `asOf`: [start, min(end, asOf)]. */
export function countingWindow(c: Campaign, asOf: string): { from: string; to: string } {
  return { from: c.start, to: asOf < c.end ? asOf : c.end };
}

/** A change to anything that affects who earns what forces a full re-evaluation of the campaign. */
export function campaignFingerprint(c: Campaign): string {
  const { name: _name, budget_cents: _budget, ...rest } = c;
  return createHash('sha256').update(JSON.stringify(rest)).digest('hex').slice(0, 16);
}

/**
 * The issuance system's idempotency key: the same campaign, rule, member and sequence number
 * always give the same id, whichever run grants it.
 */
export function grantId(campaignId: string, ruleId: string, userId: string, seq: number): string {
  return createHash('sha256').update(`${campaignId}\u0000${ruleId}\u0000${userId}\u0000${seq}`).digest('hex').slice(0, 32);
}
