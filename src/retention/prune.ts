/** Retention: what `rewards prune` may delete, planned from the config, then applied. */
import type { Config } from '../config/schema.js';
import { campaignPhase } from '../rules/campaign.js';
import type { Db } from '../store/db.js';
import { countPrunable, prune, type PruneCounts } from '../store/retention.js';
import { addDays } from '../time/datetime.js';

export interface PrunePlan {
  today: string;
  /** Delete events with a local date before this (null: keep all events). */
  events_before: string | null;
  /** Delete rejected rows recorded before this instant (null: keep all). */
  rejects_before: string | null;
  /** Why the event cutoff is where it is (an open campaign can hold it back). */
  held_back_by: string | null;
}

/**
 * The cutoffs: events older than `events_days` before today, but never inside the window of a
 * campaign that is not closed yet (it may still count them); rejects older than `rejects_days`.
 */
export function prunePlan(config: Config, today: string, nowMs: number): PrunePlan {
  const r = config.retention;
  let eventsBefore = r.events_days === undefined ? null : addDays(today, -r.events_days);
  let heldBackBy: string | null = null;
  if (eventsBefore) {
    for (const c of config.campaigns) {
      if (campaignPhase(c, today) !== 'closed' && c.start < eventsBefore) {
        eventsBefore = c.start;
        heldBackBy = c.id;
      }
    }
  }
  const rejectsBefore = r.rejects_days === undefined ? null : new Date(nowMs - r.rejects_days * 86_400_000).toISOString();
  return { today, events_before: eventsBefore, rejects_before: rejectsBefore, held_back_by: heldBackBy };
}

export function applyPrune(db: Db, plan: PrunePlan, dryRun: boolean): PruneCounts {
  return dryRun ? countPrunable(db, plan.events_before, plan.rejects_before) : prune(db, plan.events_before, plan.rejects_before);
}
