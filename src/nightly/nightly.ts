/** The cron job: ingest the inbox, run every night not yet run, write the exports due, prune, and record the night. */
import { constants } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { LoadedConfig } from '../config/load.js';
import { EXIT, UsageError, type ExitCode, RewardsError } from '../errors.js';
import { applyRun, planRun, prepareRollups, repairGrantFiles } from '../grants/run.js';
import { ingestFiles, type FileReport } from '../ingest/ingest-files.js';
import { applyPrune, prunePlan } from '../retention/prune.js';
import type { Db } from '../store/db.js';
import { busyError } from '../store/lock.js';
import { undeliveredExports } from '../store/deliveries.js';
import { setBatchPath } from '../store/ingest.js';
import { beginNightly, failRunningNightly, finishNightly, hasExport, lastCompletedNightlyAsOf } from '../store/nightly.js';
import { todayInZone } from '../time/datetime.js';
import { archiveFile, inboxFiles } from './inbox.js';
import { buildMapping } from '../ingest/mapping.js';
import { findSource } from '../config/sources.js';
import { exportDue, nightsToRun } from './schedule.js';

/** Writes one partner's export folder; returns where. Injected so the nightly does not depend on how. */
export type Exporter = (partnerId: string, asOf: string) => Promise<{ dir: string; safe_harbor: boolean }>;
/** Delivers one export to its partner's server; returns where, and whether anything was sent. Injected like the exporter. */
export type Deliverer = (partnerId: string, asOf: string) => Promise<{ remote_path: string; sent: boolean }>;

export interface NightlyOptions {
  asOf: string;
  catchUp: boolean;
  /** The most nights one nightly catches up; more is refused before anything is done (64). */
  maxCatchUp?: number;
  stdin: Readable;
  /** Ingest tuning (see ingestFiles). */
  ingest?: { parallel?: boolean | 'auto'; commitEvery?: number };
  exporter: Exporter;
  /** Without one, exports are not delivered (partners without a "delivery" block never are). */
  deliverer?: Deliverer;
  now?: number;
  onStep?: (step: string) => void;
}

export interface StepResult {
  step: string;
  ok: boolean;
  exit: ExitCode;
  error?: string;
  [key: string]: unknown;
}

export interface NightlySummary {
  nightly_id: number;
  as_of: string;
  dates: string[];
  status: 'ok' | 'partial' | 'failed';
  exit: ExitCode;
  ingest: {
    files: number;
    ingested: number;
    skipped: number;
    failed: number;
    rows: number;
    inserted: number;
    rejected: number;
    field_problems: number;
    /** Inbox entries that are not regular files (links, FIFOs, devices, folders): never read. */
    not_regular: { path: string; type: string }[];
    failures: string[];
    /** Problems that did not stop a file: a mapped path that no record had. */
    warnings: string[];
  };
  runs: { as_of: string; run_id: number | null; grants: number; amount_cents: number; file: string | null; error?: string }[];
  exports: { partner: string; as_of: string; status: 'written' | 'exists' | 'failed'; dir?: string; safe_harbor?: boolean; error?: string }[];
  deliveries: { partner: string; as_of: string; status: 'delivered' | 'already' | 'failed'; remote_path?: string; error?: string }[];
  prune: { events: number; rejects: number; error?: string } | null;
  steps: StepResult[];
}

function failure(err: unknown): { exit: ExitCode; error: string } {
  if (err instanceof RewardsError) return { exit: err.exitCode, error: err.message };
  throw err;
}

/**
 * One night: ingest the inbox (members first, oldest files first), run every as-of date not yet run
 * (catch-up), write the partner exports that are due, prune. Each step is safe to repeat, so a rerun
 * after a crash finishes what is missing and repeats nothing. The caller holds the lock.
 */
export async function runNightly(db: Db, cfg: LoadedConfig, opts: NightlyOptions): Promise<NightlySummary> {
  const last = lastCompletedNightlyAsOf(db);
  const pending = nightsToRun(last, opts.asOf, opts.catchUp);
  if (opts.maxCatchUp !== undefined && pending.length > opts.maxCatchUp) {
    // Months of nights at once would write a grant file and the due exports for each: refused until asked for.
    throw new UsageError(
      `nightly ${opts.asOf}: ${pending.length} nights to catch up since the last completed one (${last}), more than --max-catch-up ${opts.maxCatchUp}; ` +
        `run them with --max-catch-up ${pending.length}, or in steps (--as-of an earlier date first), or only this night with --no-catch-up`,
    );
  }
  const id = beginNightly(db, opts.asOf);
  const summary: NightlySummary = {
    nightly_id: id,
    as_of: opts.asOf,
    dates: [],
    status: 'ok',
    exit: EXIT.OK,
    ingest: { files: 0, ingested: 0, skipped: 0, failed: 0, rows: 0, inserted: 0, rejected: 0, field_problems: 0, not_regular: [], failures: [], warnings: [] },
    runs: [],
    exports: [],
    deliveries: [],
    prune: null,
    steps: [],
  };
  try {
    return await night(db, cfg, opts, summary);
  } catch (caught) {
    // A statement that waited past busy_timeout is 75 (retry later) here as on the command line.
    const err = (caught as { code?: string })?.code?.startsWith('SQLITE_BUSY') ? busyError(db.name) : caught;
    // Whatever stopped the night, its row ends with a status and a code: never left 'running'.
    const exit = err instanceof RewardsError ? err.exitCode : EXIT.BUG;
    summary.status = 'failed';
    summary.exit = exit;
    summary.steps.push({ step: 'night', ok: false, exit, error: (err as Error)?.message ?? String(err) });
    try {
      if (db.inTransaction) db.exec('ROLLBACK');
      finishNightly(db, id, 'failed', exit, summary);
    } catch {
      // The database itself is what failed (still busy, say): the next night closes this row.
    }
    throw err;
  }
}

/**
 * Ends the running night as failed because `signal` stops the process: its exit code is the status
 * a shell reports for that signal (128 + its number: 130 for SIGINT, 143 for SIGTERM). What the
 * night had open is rolled back, as the end of the process would. Never throws: when the database
 * cannot be written now, the next night closes the row.
 */
export function interruptNight(db: Db, signal: NodeJS.Signals): void {
  try {
    if (db.inTransaction) db.exec('ROLLBACK');
    failRunningNightly(db, 128 + (constants.signals[signal] ?? 0), `stopped by ${signal}; the next night finishes what is missing`);
  } catch {
    // left 'running' until the next night closes it
  }
}

async function night(db: Db, cfg: LoadedConfig, opts: NightlyOptions, summary: NightlySummary): Promise<NightlySummary> {
  const { config } = cfg;
  const paths = config.paths;
  const id = summary.nightly_id;
  const steps = summary.steps;

  // 0. A grant file lost to a crash after its run committed is written before anything else.
  repairGrantFiles(db);

  // 1. Ingest the inbox.
  opts.onStep?.('ingest');
  const ingestStep: StepResult = { step: 'ingest', ok: true, exit: EXIT.OK };
  const archiveDir = join(cfg.resolvePath(paths.archive), opts.asOf);
  for (const kind of ['members', 'events'] as const) {
    const { files, notRegular } = inboxFiles(join(cfg.resolvePath(paths.inbox), kind), kind === 'events' ? config.sources : null);
    summary.ingest.not_regular.push(...notRegular);
    for (const { path: file, source } of files) {
      let report: FileReport;
      try {
        const r = await ingestFiles(db, [file], {
          kind,
          mapping: buildMapping(kind, source === null ? null : { name: source, def: findSource(source, config.sources) }, {}),
          maxRejectRate: 0.05,
          force: false,
          defaultZone: config.timezone,
          stdin: opts.stdin,
          noFollow: true,
          limits: config.limits,
          ...opts.ingest,
        });
        report = r.files[0]!;
      } catch (err) {
        const f = failure(err);
        report = {
          path: file,
          sha256: null,
          status: 'failed',
          batch_id: null,
          rows: 0,
          inserted: 0,
          duplicates: 0,
          conflicts: 0,
          rejected: 0,
          field_problems: 0,
          extra_columns: [],
          extra_columns_more: false,
          source,
          mapping: {},
          warnings: [],
          error: f.error,
          exit: f.exit,
        };
      }
      const s = summary.ingest;
      s.files++;
      s.rows += report.rows;
      s.inserted += report.inserted;
      s.rejected += report.rejected;
      s.field_problems += report.field_problems;
      s.warnings.push(...report.warnings);
      if (report.status === 'failed') {
        s.failed++;
        s.failures.push(report.error ?? `${file}: failed`);
      } else {
        if (report.status === 'skipped') s.skipped++;
        else s.ingested++;
        if (report.error) s.failures.push(report.error);
        try {
          const archived = archiveFile(file, archiveDir);
          // `rejects` and `status` name the file where it is now.
          if (report.status === 'ingested' && report.batch_id !== null) setBatchPath(db, report.batch_id, archived);
        } catch (err) {
          const f = failure(err);
          s.failures.push(f.error);
          ingestStep.exit = ingestStep.exit === EXIT.OK ? f.exit : ingestStep.exit;
        }
      }
      if (report.exit !== EXIT.OK && ingestStep.exit === EXIT.OK) ingestStep.exit = report.exit;
    }
  }
  ingestStep.ok = ingestStep.exit === EXIT.OK;
  if (!ingestStep.ok) ingestStep.error = summary.ingest.failures.join('; ');
  steps.push(ingestStep);

  // 2. Runs, catching up missed nights. Exports of a date depend on its run.
  const dates = nightsToRun(lastCompletedNightlyAsOf(db), opts.asOf, opts.catchUp);
  summary.dates = dates;
  const grantsDir = cfg.resolvePath(paths.grants);
  const runStep: StepResult = { step: 'run', ok: true, exit: EXIT.OK };
  const exportStep: StepResult = { step: 'export', ok: true, exit: EXIT.OK };
  for (const date of dates) {
    opts.onStep?.(`run ${date}`);
    try {
      prepareRollups(db, config, { asOf: date, campaignIds: [] });
      const res = applyRun(db, planRun(db, config, { asOf: date, campaignIds: [] }), grantsDir);
      summary.runs.push({ as_of: date, run_id: res.run_id, grants: res.grants, amount_cents: res.amount_cents, file: res.file });
    } catch (err) {
      const f = failure(err);
      summary.runs.push({ as_of: date, run_id: null, grants: 0, amount_cents: 0, file: null, error: f.error });
      Object.assign(runStep, { ok: false, exit: f.exit, error: f.error });
      break; // later dates depend on this one's grants
    }
    // 3. Exports due for this date.
    for (const p of config.partners) {
      if (!exportDue(p, config, date)) continue;
      if (hasExport(db, p.id, date)) {
        summary.exports.push({ partner: p.id, as_of: date, status: 'exists' });
        continue;
      }
      opts.onStep?.(`export ${p.id} ${date}`);
      try {
        const r = await opts.exporter(p.id, date);
        summary.exports.push({ partner: p.id, as_of: date, status: 'written', dir: r.dir, safe_harbor: r.safe_harbor });
      } catch (err) {
        const f = failure(err);
        summary.exports.push({ partner: p.id, as_of: date, status: 'failed', error: f.error });
        if (exportStep.ok) Object.assign(exportStep, { ok: false, exit: f.exit, error: f.error });
      }
    }
  }
  steps.push(runStep, exportStep);

  // 4. Deliveries: every export of a delivering partner not delivered yet, this night's and any an
  // earlier night failed to send. A failure is reported and left for the next night; it stops
  // neither the other partners nor anything after.
  const deliverStep: StepResult = { step: 'deliver', ok: true, exit: EXIT.OK };
  const delivering = config.partners.filter((p) => p.delivery).map((p) => p.id);
  if (opts.deliverer && delivering.length > 0) {
    for (const e of undeliveredExports(db, delivering)) {
      opts.onStep?.(`deliver ${e.partner_id} ${e.as_of}`);
      try {
        const r = await opts.deliverer(e.partner_id, e.as_of);
        summary.deliveries.push({ partner: e.partner_id, as_of: e.as_of, status: r.sent ? 'delivered' : 'already', remote_path: r.remote_path });
      } catch (err) {
        const f = failure(err);
        summary.deliveries.push({ partner: e.partner_id, as_of: e.as_of, status: 'failed', error: f.error });
        if (deliverStep.ok) Object.assign(deliverStep, { ok: false, exit: f.exit, error: f.error });
      }
    }
  }
  steps.push(deliverStep);

  // 5. Retention.
  opts.onStep?.('prune');
  const pruneStep: StepResult = { step: 'prune', ok: true, exit: EXIT.OK };
  try {
    const now = opts.now ?? Date.now();
    const counts = applyPrune(db, prunePlan(config, todayInZone(config.timezone, now), now), false);
    summary.prune = counts;
  } catch (err) {
    const f = failure(err);
    summary.prune = { events: 0, rejects: 0, error: f.error };
    Object.assign(pruneStep, { ok: false, exit: f.exit, error: f.error });
  }
  steps.push(pruneStep);

  // 6. Exit: 65 for bad input when everything else ran; any other step failure's own code wins.
  const failed = steps.filter((s) => !s.ok);
  const other = failed.find((s) => s.exit !== EXIT.DATAERR);
  summary.exit = other ? other.exit : failed.length ? EXIT.DATAERR : EXIT.OK;
  // A night whose runs failed is 'failed': the next night catches its dates up.
  summary.status = !runStep.ok ? 'failed' : failed.length ? 'partial' : 'ok';
  finishNightly(db, id, summary.status, summary.exit, summary);
  return summary;
}
