/** A campaign's stored state between runs: its budget spent, its watermark, the grants waiting for budget, and totals per rule. */
import { type Db, insertRows, postgres, stmt } from './db.js';

export function campaignSpent(db: Db, campaignId: string): number {
  return (stmt(db, 'SELECT coalesce(sum(amount_cents), 0) FROM grants WHERE campaign_id = ?').pluck().get(campaignId) as number) ?? 0;
}

export interface CampaignState {
  campaign_id: string;
  fingerprint: string;
  last_as_of: string;
  events_watermark: number;
  members_watermark: number;
  over_budget: number;
}

/** An earning left over budget: granted by a later run when the budget allows. */
export interface WaitingGrant {
  rule_id: string;
  user_id: string;
  seq: number;
  earned_on: string;
}

/** A campaign's new state after a run, with the grants it left over budget. */
export interface CampaignStateUpdate extends CampaignState {
  waiting: WaitingGrant[];
  /**
   * What campaign_over_budget held for the campaign when the plan was made: only the difference is
   * written (a run usually changes a few of thousands). Undefined: unknown, rewrite them all.
   */
  stored?: WaitingGrant[];
}

/** The grants a campaign's last run left over budget. */
export function waitingGrants(db: Db, campaignId: string): WaitingGrant[] {
  // Every run reads them all (they keep their place in budget order): as one JSON array (JSON_LISTS).
  const list = stmt(
    db,
    `SELECT json_group_array(json_object('rule_id', rule_id, 'user_id', user_id, 'seq', seq, 'earned_on', earned_on))
     FROM campaign_over_budget WHERE campaign_id = ?`,
  )
    .pluck()
    .get(campaignId) as string;
  return JSON.parse(list) as WaitingGrant[];
}

export function getCampaignState(db: Db, campaignId: string): CampaignState | undefined {
  return stmt(db, 'SELECT * FROM campaign_state WHERE campaign_id = ?').get(campaignId) as CampaignState | undefined;
}

export function saveCampaignStates(db: Db, states: CampaignStateUpdate[]): void {
  const up = stmt(
    db,
    `INSERT INTO campaign_state (campaign_id, fingerprint, last_as_of, events_watermark, members_watermark, over_budget)
     VALUES (@campaign_id, @fingerprint, @last_as_of, @events_watermark, @members_watermark, @over_budget)
     ON CONFLICT (campaign_id) DO UPDATE SET fingerprint = excluded.fingerprint, last_as_of = excluded.last_as_of,
       events_watermark = excluded.events_watermark, members_watermark = excluded.members_watermark, over_budget = excluded.over_budget`,
  );
  const clear = stmt(db, 'DELETE FROM campaign_over_budget WHERE campaign_id = ?');
  const add = stmt(
    db,
    `INSERT INTO campaign_over_budget (campaign_id, rule_id, user_id, seq, earned_on) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (campaign_id, rule_id, user_id, seq) DO UPDATE SET earned_on = excluded.earned_on`,
  );
  const drop = stmt(db, 'DELETE FROM campaign_over_budget WHERE campaign_id = ? AND rule_id = ? AND user_id = ? AND seq = ?');
  const order = (a: WaitingGrant, b: WaitingGrant) =>
    a.rule_id < b.rule_id ? -1 : a.rule_id > b.rule_id ? 1 : a.user_id < b.user_id ? -1 : a.user_id > b.user_id ? 1 : a.seq - b.seq;
  db.transaction(() => {
    for (const s of states) {
      up.run({
        campaign_id: s.campaign_id,
        fingerprint: s.fingerprint,
        last_as_of: s.last_as_of,
        events_watermark: s.events_watermark,
        members_watermark: s.members_watermark,
        over_budget: s.over_budget,
      });
      // On PostgreSQL a statement per changed row is a round trip each: rewritten whole, by COPY.
      if (s.stored === undefined || postgres(db)) {
        clear.run(s.campaign_id);
        insertRows(
          db,
          'campaign_over_budget',
          ['campaign_id', 'rule_id', 'user_id', 'seq', 'earned_on'],
          s.waiting.map((w) => [s.campaign_id, w.rule_id, w.user_id, w.seq, w.earned_on]),
        );
        continue;
      }
      // Both lists in one order, walked side by side.
      const before = [...s.stored].sort(order);
      const after = [...s.waiting].sort(order);
      let i = 0;
      for (const w of after) {
        while (i < before.length && order(before[i]!, w) < 0) {
          const gone = before[i++]!;
          drop.run(s.campaign_id, gone.rule_id, gone.user_id, gone.seq);
        }
        const same = i < before.length && order(before[i]!, w) === 0 ? before[i++]! : undefined;
        if (same?.earned_on !== w.earned_on) add.run(s.campaign_id, w.rule_id, w.user_id, w.seq, w.earned_on);
      }
      for (; i < before.length; i++) drop.run(s.campaign_id, before[i]!.rule_id, before[i]!.user_id, before[i]!.seq);
    }
  })();
}

export interface RuleTotals {
  rule_id: string;
  members_earned: number;
  grants: number;
  amount_cents: number;
}

export function ruleTotals(db: Db, campaignId: string, asOf: string): RuleTotals[] {
  return stmt(
    db,
    `SELECT rule_id, count(DISTINCT user_id) AS members_earned, count(*) AS grants, coalesce(sum(amount_cents), 0) AS amount_cents
     FROM grants WHERE campaign_id = ? AND earned_on <= ? GROUP BY rule_id`,
  ).all(campaignId, asOf) as RuleTotals[];
}

/** Members with at least one grant of the campaign earned up to `asOf`. */
export function membersEarned(db: Db, campaignId: string, asOf: string): number {
  return stmt(db, 'SELECT count(DISTINCT user_id) FROM grants WHERE campaign_id = ? AND earned_on <= ?').pluck().get(campaignId, asOf) as number;
}

/** A campaign's grants per rule and earned date, up to `asOf`, in date order. */
export function grantsByDay(db: Db, campaignId: string, asOf: string): { rule_id: string; earned_on: string; grants: number; amount_cents: number }[] {
  return stmt(
    db,
    `SELECT rule_id, earned_on, count(*) AS grants, coalesce(sum(amount_cents), 0) AS amount_cents
     FROM grants WHERE campaign_id = ? AND earned_on <= ? GROUP BY rule_id, earned_on ORDER BY earned_on, rule_id`,
  ).all(campaignId, asOf) as { rule_id: string; earned_on: string; grants: number; amount_cents: number }[];
}
