import type { Where } from '../config/schema.js';
import { type Db, nowIso, stmt } from './db.js';

/** What a rule counts: events of one type, optionally filtered on top-level properties. */
export interface ActivitySource {
  eventType: string;
  where?: Where;
  /** Only members whose partner is one of these (undefined: everyone). */
  partners?: readonly string[];
}

export interface ActivityRow {
  user_id: string;
  local_date: string;
  events: number;
}

function sqlValue(v: string | number | boolean): string | number {
  // json_extract returns JSON true/false as 1/0.
  return typeof v === 'boolean' ? (v ? 1 : 0) : v;
}

const placeholders = (n: number) => Array.from({ length: n }, () => '?').join(', ');

/**
 * The counted (member, day) rows of a source in [@from, @to], ordered by member then day, for every
 * member or only those in `@users` (a JSON array; the incremental run's changed members, or one).
 *
 * The rollup is read member by member, each a seek on its key (user_id, event_type, local_date), so
 * rows come in the order wanted without a sort: for every member, the members of the eligible
 * partners, else those with such an event in the window. (Reading through the (event_type,
 * local_date) index instead means a lookup per row and a sort of them all: several times slower for
 * a common event type.) Property filters cannot use the rollup: they count matching raw events.
 */
function buildActivityQuery(src: ActivitySource, someUsers: boolean): { sql: string; params: (string | number)[] } {
  const params: (string | number)[] = [];
  const conds: string[] = [];
  const rollup = !src.where || Object.keys(src.where).length === 0;
  let from = rollup ? 'daily_activity a' : 'events a';
  if (someUsers) {
    conds.push('a.user_id IN (SELECT value FROM json_each(@users))');
  } else if (rollup && src.partners) {
    conds.push(`a.user_id IN (SELECT user_id FROM members WHERE partner IN (${placeholders(src.partners.length)}))`);
    params.push(...src.partners);
  } else if (rollup) {
    conds.push('a.user_id IN (SELECT user_id FROM daily_activity WHERE event_type = ? AND local_date BETWEEN @from AND @to)');
    params.push(src.eventType);
  } else if (src.partners) {
    from += ` JOIN members m ON m.user_id = a.user_id AND m.partner IN (${placeholders(src.partners.length)})`;
    params.push(...src.partners);
  }
  conds.push('a.event_type = ?', 'a.local_date BETWEEN @from AND @to');
  params.push(src.eventType);
  if (someUsers && src.partners) {
    conds.push(`EXISTS (SELECT 1 FROM members m WHERE m.user_id = a.user_id AND m.partner IN (${placeholders(src.partners.length)}))`);
    params.push(...src.partners);
  }
  if (rollup) {
    return { sql: `SELECT a.user_id, a.local_date, a.events FROM ${from} WHERE ${conds.join(' AND ')} ORDER BY a.user_id, a.local_date`, params };
  }
  for (const [key, allowed] of Object.entries(src.where!).sort(([a], [b]) => a.localeCompare(b))) {
    const values = Array.isArray(allowed) ? allowed : [allowed];
    conds.push(`json_extract(a.properties, ?) IN (${placeholders(values.length)})`);
    params.push(`$."${key.replace(/"/g, '\\"')}"`, ...values.map(sqlValue));
  }
  return {
    sql: `SELECT a.user_id, a.local_date, count(*) AS events FROM ${from} WHERE ${conds.join(' AND ')}
          GROUP BY a.user_id, a.local_date ORDER BY a.user_id, a.local_date`,
    params,
  };
}

/** Counted (member, day) rows of a source in [from, to], ordered by member then day: streamed, not loaded. */
export function iterateActivity(db: Db, src: ActivitySource, from: string, to: string, users?: readonly string[]): IterableIterator<ActivityRow> {
  const q = buildActivityQuery(src, users !== undefined);
  const named = users === undefined ? { from, to } : { from, to, users: JSON.stringify(users) };
  return stmt(db, q.sql).iterate(...q.params, named) as IterableIterator<ActivityRow>;
}

export function activityOfUser(db: Db, src: ActivitySource, from: string, to: string, user: string): ActivityRow[] {
  return [...iterateActivity(db, src, from, to, [user])];
}

/** Members whose counted activity may have changed since a campaign's last run. */
export function changedUsers(
  db: Db,
  o: { eventTypes: string[]; sinceSeq: number; lastAsOf: string; to: string; sinceMemberBatch: number },
): Set<string> {
  const types = o.eventTypes.map(() => '?').join(', ');
  const users = new Set<string>();
  const add = (rows: unknown[]) => {
    for (const u of rows as string[]) users.add(u);
  };
  // New events, whatever their date.
  // NOT INDEXED: otherwise SQLite walks the whole (user_id, local_date) index for the DISTINCT
  // instead of reading the few rows past the watermark by rowid.
  add(stmt(db, `SELECT DISTINCT user_id FROM events NOT INDEXED WHERE seq > ? AND event_type IN (${types})`).pluck().all(o.sinceSeq, ...o.eventTypes));
  // Days the window newly covers as time passes (events ingested earlier but dated after the last as-of).
  if (o.to > o.lastAsOf) {
    add(
      stmt(db, `SELECT DISTINCT user_id FROM daily_activity WHERE event_type IN (${types}) AND local_date > ? AND local_date <= ?`)
        .pluck()
        .all(...o.eventTypes, o.lastAsOf, o.to),
    );
  }
  // Member records replaced since: the partner, hence eligibility, may have changed.
  add(stmt(db, 'SELECT user_id FROM members WHERE batch_id > ?').pluck().all(o.sinceMemberBatch));
  return users;
}

/** Highest sequence granted so far per member for one rule. */
export function grantCounts(db: Db, campaignId: string, ruleId: string): Map<string, number> {
  const rows = stmt(db, 'SELECT user_id, max(seq) AS n FROM grants WHERE campaign_id = ? AND rule_id = ? GROUP BY user_id').all(campaignId, ruleId) as {
    user_id: string;
    n: number;
  }[];
  return new Map(rows.map((r) => [r.user_id, r.n]));
}

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
}

/** The grants a campaign's last run left over budget. */
export function waitingGrants(db: Db, campaignId: string): WaitingGrant[] {
  return stmt(db, 'SELECT rule_id, user_id, seq, earned_on FROM campaign_over_budget WHERE campaign_id = ?').all(campaignId) as WaitingGrant[];
}

export function getCampaignState(db: Db, campaignId: string): CampaignState | undefined {
  return stmt(db, 'SELECT * FROM campaign_state WHERE campaign_id = ?').get(campaignId) as CampaignState | undefined;
}

export function watermarks(db: Db): { events: number; members: number } {
  return {
    events: (stmt(db, 'SELECT coalesce(max(seq), 0) FROM events').pluck().get() as number) ?? 0,
    // Any members batch may have replaced member records: the batches table answers without a scan.
    members: (stmt(db, `SELECT coalesce(max(batch_id), 0) FROM batches WHERE kind = 'members'`).pluck().get() as number) ?? 0,
  };
}

export interface GrantRow {
  grant_id: string;
  run_id: number;
  campaign_id: string;
  rule_id: string;
  user_id: string;
  seq: number;
  reward_code: string;
  amount_cents: number;
  currency: string;
  earned_on: string;
}

export interface RunRow {
  run_id: number;
  as_of: string;
  started_at: string;
  finished_at: string | null;
  status: 'committed' | 'complete';
  grants: number;
  amount_cents: number;
  over_budget: number;
  file: string;
  file_sha256: string | null;
  events_watermark: number;
  summary: string;
}

export function nextRunId(db: Db): number {
  return ((stmt(db, 'SELECT coalesce(max(run_id), 0) FROM runs').pluck().get() as number) ?? 0) + 1;
}

/**
 * Records a run, its grants and the campaigns' new state in one transaction: either all of it is
 * in the database or none of it, so a crash can never leave grants without their run.
 */
export function recordRun(
  db: Db,
  run: Omit<RunRow, 'finished_at' | 'status' | 'file_sha256'>,
  grants: Omit<GrantRow, 'run_id'>[],
  states: CampaignStateUpdate[],
): void {
  db.transaction(() => {
    stmt(
      db,
      `INSERT INTO runs (run_id, as_of, started_at, status, grants, amount_cents, over_budget, file, events_watermark, summary)
       VALUES (@run_id, @as_of, @started_at, 'committed', @grants, @amount_cents, @over_budget, @file, @events_watermark, @summary)`,
    ).run(run);
    const ins = stmt(
      db,
      `INSERT INTO grants (grant_id, run_id, campaign_id, rule_id, user_id, seq, reward_code, amount_cents, currency, earned_on)
       VALUES (@grant_id, @run_id, @campaign_id, @rule_id, @user_id, @seq, @reward_code, @amount_cents, @currency, @earned_on)`,
    );
    for (const g of grants) ins.run({ ...g, run_id: run.run_id });
    saveCampaignStates(db, states);
  }).immediate();
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
  const add = stmt(db, 'INSERT INTO campaign_over_budget (campaign_id, rule_id, user_id, seq, earned_on) VALUES (?, ?, ?, ?, ?)');
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
      clear.run(s.campaign_id);
      for (const w of s.waiting) add.run(s.campaign_id, w.rule_id, w.user_id, w.seq, w.earned_on);
    }
  })();
}

/** Runs whose grants are recorded but whose grant file was not confirmed written (crash in between). */
export function runsMissingFiles(db: Db): RunRow[] {
  return stmt(db, `SELECT * FROM runs WHERE status = 'committed' ORDER BY run_id`).all() as RunRow[];
}

/**
 * A run's grants, streamed. The query starts only when iteration does: an iterator opened but never
 * consumed (the grant file's folder could not be created) would keep the connection busy, and every
 * later statement, the lock's release included, would fail.
 */
export function* grantsOfRun(db: Db, runId: number): Generator<GrantRow> {
  yield* stmt(db, 'SELECT * FROM grants WHERE run_id = ? ORDER BY earned_on, campaign_id, rule_id, user_id, seq').iterate(runId) as IterableIterator<GrantRow>;
}

export function markRunComplete(db: Db, runId: number, sha256: string): void {
  stmt(db, `UPDATE runs SET status = 'complete', file_sha256 = ?, finished_at = ? WHERE run_id = ?`).run(sha256, nowIso(), runId);
}

export function latestRunFor(db: Db, asOf: string): RunRow | undefined {
  return stmt(db, 'SELECT * FROM runs WHERE as_of = ? ORDER BY run_id DESC LIMIT 1').get(asOf) as RunRow | undefined;
}

export function latestRun(db: Db): RunRow | undefined {
  return stmt(db, 'SELECT * FROM runs ORDER BY run_id DESC LIMIT 1').get() as RunRow | undefined;
}

export function grantsOfUser(db: Db, userId: string, campaignId: string): (GrantRow & { file: string })[] {
  return stmt(
    db,
    'SELECT g.*, r.file FROM grants g JOIN runs r USING (run_id) WHERE g.user_id = ? AND g.campaign_id = ? ORDER BY g.rule_id, g.seq',
  ).all(userId, campaignId) as (GrantRow & { file: string })[];
}

export function memberPartner(db: Db, userId: string): { found: boolean; partner: string | null } {
  const row = stmt(db, 'SELECT partner FROM members WHERE user_id = ?').get(userId) as { partner: string | null } | undefined;
  return { found: row !== undefined, partner: row?.partner ?? null };
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

export function countActiveMembers(db: Db, src: ActivitySource, from: string, to: string): number {
  const q = buildActivityQuery(src, false);
  return stmt(db, `SELECT count(DISTINCT user_id) FROM (${q.sql})`).pluck().get(...q.params, { from, to }) as number;
}
