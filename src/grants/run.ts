/** A run of the campaigns: prepareRollups (the write before a plan), planRun (pure), applyRun (grants, run row, grant file), and the repair of grant files a crash left unwritten. */
import { join } from 'node:path';
import type { Campaign, Config } from '../config/schema.js';
import { type Candidate, campaignCandidates, campaignSources } from '../rules/candidates.js';
import { campaignFingerprint, campaignPhase, type CampaignPhase, countingWindow, grantId } from '../rules/campaign.js';
import type { Db } from '../store/db.js';
import { changedUsers } from '../store/activity.js';
import { type CampaignStateUpdate, campaignSpent, getCampaignState, saveCampaignStates, waitingGrants } from '../store/campaigns.js';
import { type GrantRow, grantsOfRun, latestRunFor, markRunComplete, nextRunId, recordRun, runsMissingFiles, watermarks } from '../store/runs.js';
import { nowIso } from '../store/db.js';
import { type Rollups, syncRollups } from '../store/sources.js';
import { applyBudget } from './plan.js';
import { crashPoint } from '../util/crash-point.js';
import { writeGrantFile } from './grant-file.js';

export interface CampaignPlan {
  id: string;
  phase: CampaignPhase;
  /** Evaluated over all members (first run, changed config, pending over-budget) or only changed ones. */
  mode: 'full' | 'incremental' | 'skipped';
  evaluated_members: number | null;
  granted: Candidate[];
  overBudget: Candidate[];
  amount_cents: number;
  state: CampaignStateUpdate | null;
}

/** What a run would grant: computed without writing anything, so --dry-run is this and nothing more. */
export interface RunPlan {
  as_of: string;
  campaigns: CampaignPlan[];
  watermark: { events: number; members: number };
}

export interface PlanOptions {
  asOf: string;
  /** Only these campaign ids (all when empty). */
  campaignIds: string[];
  /** Evaluate every member even where an incremental run would do (for dry runs of new rules). */
  full?: boolean;
  /** The rollups to read, when the caller synced them itself in the read transaction it plans in. */
  rollups?: Rollups;
}

/** The campaigns a plan covers. */
function selectCampaigns(config: Config, campaignIds: readonly string[]): Campaign[] {
  return campaignIds.length ? config.campaigns.filter((c) => campaignIds.includes(c.id)) : config.campaigns;
}

/**
 * The write that comes before a run's plan: the stored rollups of the open campaigns' `where`
 * sources are built the first time and brought up to date when many events arrived since
 * (store/sources.ts). A cache of what the plan reads, so repeating it changes no result; the caller
 * holds the writer lock.
 */
export function prepareRollups(db: Db, config: Config, opts: Pick<PlanOptions, 'asOf' | 'campaignIds'>): void {
  db.transaction(() => {
    const open = selectCampaigns(config, opts.campaignIds).filter((c) => campaignPhase(c, opts.asOf) === 'open');
    syncRollups(db, open.flatMap(campaignSources), watermarks(db).events, { write: true });
  }).immediate();
}

function planCampaign(
  db: Db,
  c: Campaign,
  asOf: string,
  wm: { events: number; members: number },
  forceFull: boolean,
  rollups: Rollups,
): CampaignPlan {
  const phase = campaignPhase(c, asOf);
  const base = { id: c.id, phase, granted: [], overBudget: [], amount_cents: 0, evaluated_members: null, state: null };
  if (phase !== 'open') return { ...base, mode: 'skipped' };
  const window = countingWindow(c, asOf);
  const fingerprint = campaignFingerprint(c);
  const prev = getCampaignState(db, c.id);
  // Grants the last run left over budget wait, in the database, for the budget to allow them. A state
  // that counts some but lists none (written before they were kept) needs a full evaluation.
  const waiting = prev && prev.over_budget > 0 ? waitingGrants(db, c.id) : [];
  const incremental =
    !forceFull &&
    prev !== undefined &&
    prev.fingerprint === fingerprint &&
    waiting.length === prev.over_budget &&
    asOf >= prev.last_as_of;
  let users: Set<string> | undefined;
  let candidates: Candidate[];
  if (incremental) {
    const changed = changedUsers(db, {
      eventTypes: [...new Set(c.rules.map((r) => r.event_type))],
      sinceSeq: prev.events_watermark,
      lastAsOf: prev.last_as_of < c.end ? prev.last_as_of : c.end,
      to: window.to,
      sinceMemberBatch: prev.members_watermark,
      memberBatch: wm.members,
    });
    users = new Set([...changed.values()].flatMap((set) => [...set]));
    // The changed members' earnings are recomputed, rule by rule for the members whose events of
    // its type changed; every other waiting grant stands as it was.
    candidates = campaignCandidates(db, c, window, rollups, changed);
    const indexOf = new Map(c.rules.map((r, i) => [r.id, i]));
    for (const w of waiting) {
      const rule_index = indexOf.get(w.rule_id)!;
      const rule = c.rules[rule_index]!;
      if (changed.get(rule.event_type)!.has(w.user_id)) continue;
      candidates.push({ campaign_id: c.id, rule_id: w.rule_id, rule_index, user_id: w.user_id, seq: w.seq, earned_on: w.earned_on, reward: rule.reward });
    }
  } else {
    candidates = campaignCandidates(db, c, window, rollups);
  }
  const { granted, overBudget } = applyBudget(candidates, c.budget_cents, campaignSpent(db, c.id));
  const state: CampaignStateUpdate = {
    campaign_id: c.id,
    fingerprint,
    // What this evaluation covered, even when it is earlier than the last one: a rerun of an earlier
    // date saw events up to the watermark only through its own as-of, so the next incremental run
    // must look again at every member with activity after it.
    last_as_of: asOf,
    events_watermark: wm.events,
    members_watermark: wm.members,
    over_budget: overBudget.length,
    waiting: overBudget.map((g) => ({ rule_id: g.rule_id, user_id: g.user_id, seq: g.seq, earned_on: g.earned_on })),
    stored: prev ? waiting : undefined,
  };
  return {
    ...base,
    mode: incremental ? 'incremental' : 'full',
    evaluated_members: users ? users.size : null,
    granted,
    overBudget,
    amount_cents: granted.reduce((n, g) => n + g.reward.amount_cents, 0),
    state,
  };
}

/**
 * What a run would grant, as of a date: inputs in, plan out, nothing written (TEMP tables aside).
 * One read transaction, so the watermark, the rollups and every campaign see one snapshot.
 */
export function planRun(db: Db, config: Config, opts: PlanOptions): RunPlan {
  const selected = selectCampaigns(config, opts.campaignIds);
  return db.transaction(() => {
    const wm = watermarks(db);
    const open = selected.filter((c) => campaignPhase(c, opts.asOf) === 'open');
    const rollups = opts.rollups ?? syncRollups(db, open.flatMap(campaignSources), wm.events, { write: false });
    const campaigns = selected.map((c) => planCampaign(db, c, opts.asOf, wm, opts.full ?? false, rollups));
    return { as_of: opts.asOf, campaigns, watermark: wm };
  })();
}

export interface RunResult {
  run_id: number;
  /** False when nothing was new and an earlier run of the same as-of date stands (its file is the answer). */
  recorded: boolean;
  file: string;
  grants: number;
  amount_cents: number;
  repaired: string[];
}

function toGrantRow(c: Candidate, runId: number): GrantRow {
  return {
    grant_id: grantId(c.campaign_id, c.rule_id, c.user_id, c.seq),
    run_id: runId,
    campaign_id: c.campaign_id,
    rule_id: c.rule_id,
    user_id: c.user_id,
    seq: c.seq,
    reward_code: c.reward.code,
    amount_cents: c.reward.amount_cents,
    currency: c.reward.currency,
    earned_on: c.earned_on,
  };
}

/**
 * Writes the grant file of every run whose grants were committed but whose file was not confirmed
 * (a crash between the commit and the rename). The file is rebuilt from the database alone.
 */
export function repairGrantFiles(db: Db): string[] {
  const repaired: string[] = [];
  // A run killed mid-write left a temp file beside the grant file: writing it again removes that
  // (util/durable.ts), so no litter stays beside the grant files.
  for (const run of runsMissingFiles(db)) {
    const sha = writeGrantFile(run.file, grantsOfRun(db, run.run_id));
    markRunComplete(db, run.run_id, sha);
    repaired.push(run.file);
  }
  return repaired;
}

export function runSummary(plan: RunPlan) {
  return plan.campaigns.map((c) => ({
    id: c.id,
    phase: c.phase,
    closed: c.phase === 'closed',
    mode: c.mode,
    grants: c.granted.length,
    amount_cents: c.amount_cents,
    over_budget: c.overBudget.length,
  }));
}

/**
 * Applies a plan: grants, run and campaign state in one transaction, then the grant file (temp
 * name, fsync, rename), then the run is marked complete. A crash after the commit leaves the run
 * 'committed'; the next run's repairGrantFiles writes the missing file.
 */
export function applyRun(db: Db, plan: RunPlan, grantsDir: string): RunResult {
  const repaired = repairGrantFiles(db);
  const candidates = plan.campaigns.flatMap((c) => c.granted);
  const states = plan.campaigns.flatMap((c) => (c.state ? [c.state] : []));
  const previous = latestRunFor(db, plan.as_of);
  if (candidates.length === 0 && previous) {
    // Nothing new for a date already run: the earlier run and its file stand; keep the database as it was.
    saveCampaignStates(db, states);
    return { run_id: previous.run_id, recorded: false, file: previous.file, grants: 0, amount_cents: 0, repaired };
  }
  const runId = nextRunId(db);
  const file = join(grantsDir, `grants-${plan.as_of}-${runId}.csv`);
  const rows = candidates.map((c) => toGrantRow(c, runId));
  const amount = rows.reduce((n, g) => n + g.amount_cents, 0);
  recordRun(
    db,
    {
      run_id: runId,
      as_of: plan.as_of,
      started_at: nowIso(),
      grants: rows.length,
      amount_cents: amount,
      over_budget: plan.campaigns.reduce((n, c) => n + c.overBudget.length, 0),
      file,
      events_watermark: plan.watermark.events,
      summary: JSON.stringify(runSummary(plan)),
    },
    rows,
    states,
  );
  crashPoint('run:committed');
  const sha = writeGrantFile(file, grantsOfRun(db, runId));
  crashPoint('run:file-written');
  markRunComplete(db, runId, sha);
  return { run_id: runId, recorded: true, file, grants: rows.length, amount_cents: amount, repaired };
}
