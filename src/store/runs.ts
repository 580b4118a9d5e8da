/** Runs and their grants: recording a run, its grant file's state, and reading grants back. */
import { type Db, insertRows, nowIso, stmt } from './db.js';
import { type CampaignStateUpdate, saveCampaignStates } from './campaigns.js';

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
    insertRows(
      db,
      'grants',
      ['grant_id', 'run_id', 'campaign_id', 'rule_id', 'user_id', 'seq', 'reward_code', 'amount_cents', 'currency', 'earned_on'],
      grants.map((g) => [g.grant_id, run.run_id, g.campaign_id, g.rule_id, g.user_id, g.seq, g.reward_code, g.amount_cents, g.currency, g.earned_on]),
    );
    saveCampaignStates(db, states);
  }).immediate();
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
