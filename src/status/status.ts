/** `rewards status`: the state of everything, collected. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { LoadedConfig } from '../config/load.js';
import { inboxFiles } from '../nightly/inbox.js';
import { campaignPhase } from '../rules/campaign.js';
import type { Db } from '../store/db.js';
import { latestDeliveries, undeliveredExports } from '../store/deliveries.js';
import { listReleases } from '../store/export.js';
import { latestNightly } from '../store/nightly.js';
import { lastPrune } from '../store/retention.js';
import { databaseBytes, lastBatch, latestExports, recentRuns, tableCounts, unfinishedBatches } from '../store/status.js';
import { addDays } from '../time/datetime.js';

/** The state of everything at a glance, for `rewards status` and its --json. */
export function collectStatus(db: Db, dbPath: string, cfg: LoadedConfig, today: string) {
  const n = latestNightly(db);
  const inbox = cfg.resolvePath(cfg.config.paths.inbox);
  const runs = recentRuns(db, 10);
  return {
    database: { path: db.name, bytes: databaseBytes(db, dbPath), rows: tableCounts(db) },
    last_nightly: n
      ? { nightly_id: n.nightly_id, as_of: n.as_of, status: n.status, exit_code: n.exit_code, started_at: n.started_at, finished_at: n.finished_at, summary: n.summary ? JSON.parse(n.summary) : null }
      : null,
    last: {
      ingest: lastBatch(db) ?? null,
      run: runs[0] ?? null,
      export: latestExports(db).sort((a, b) => (a.created_at < b.created_at ? 1 : -1))[0] ?? null,
      prune: lastPrune(db) ?? null,
    },
    batches_unfinished: unfinishedBatches(db),
    inbox_waiting: {
      members: inboxFiles(join(inbox, 'members')).files.map((f) => f.path),
      events: inboxFiles(join(inbox, 'events'), cfg.config.sources).files.map((f) => f.path),
    },
    grant_files: runs.map((r) => ({ run_id: r.run_id, as_of: r.as_of, file: r.file, grants: r.grants, status: r.status, present: existsSync(r.file) })),
    exports: latestExports(db),
    // What each partner holds: one entry per release, oldest first (README, "Releases").
    releases: listReleases(db, null).map((r) => ({
      partner_id: r.partner_id,
      period: r.period,
      data_through: r.data_through,
      rule: r.precision_rule,
      first_as_of: r.first_as_of,
      members: (JSON.parse(r.content) as { members: number }).members,
    })),
    deliveries: {
      last: latestDeliveries(db).map((d) => ({
        partner_id: d.partner_id,
        as_of: d.as_of,
        host: d.host,
        remote_path: d.remote_path,
        status: d.status,
        finished_at: d.finished_at,
        error: d.error,
      })),
      undelivered: undeliveredExports(db, cfg.config.partners.filter((p) => p.delivery).map((p) => p.id)).map((e) => ({ partner_id: e.partner_id, as_of: e.as_of })),
    },
    // As of yesterday, the last complete local day: the date run, report and explain take by default,
    // so that status and report name the same phase.
    campaigns: cfg.config.campaigns.map((c) => ({ id: c.id, start: c.start, end: c.end, as_of: addDays(today, -1), phase: campaignPhase(c, addDays(today, -1)) })),
  };
}

export type Status = ReturnType<typeof collectStatus>;
