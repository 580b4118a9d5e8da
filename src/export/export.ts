import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Campaign, Config, Partner } from '../config/schema.js';
import { ConfigError, UsageError } from '../errors.js';
import type { Db } from '../store/db.js';
import {
  type CampaignWindow,
  closeSnapshot,
  type ExportFunctions,
  iterateActivityLines,
  iterateMemberLines,
  openSnapshot,
  type PopulationCounts,
  recordExport,
  watchCommits,
} from '../store/export.js';
import { ACTIVITY_HEADER, csvRecord, csvText, GRANTS_HEADER, MEMBERS_HEADER, needsEscaping } from './csv.js';
import {
  birthYear,
  type DatePrecision,
  keyFingerprint,
  PERIOD_LENGTH,
  periodsBetween,
  pseudonymiser,
  stateCode,
  zip3,
} from './deidentify.js';
import { CsvFileWriter, discardStaging, type FileInfo, fsyncDir, prepareStaging, publish, writeDurable } from './files.js';
import { type Helper, spawnHelper } from './helper.js';
import { grantLines } from './rows.js';
import { type GrantCell, GrantTally, grantsTables, MemberTally, membersTable, SUMMARY_HEADER } from './summary.js';

/**
 * `rewards export`: one partner's de-identified folder. The core of the command: it gets everything
 * it needs as arguments (config, key, clock, abort signal), reads one database snapshot and writes one
 * folder; it neither prints nor exits.
 */

export { ACTIVITY_HEADER, GRANTS_HEADER, MEMBERS_HEADER };

export interface ExportOptions {
  config: Config;
  partner: Partner;
  asOf: string;
  /** Absolute path of paths.outbox. */
  outbox: string;
  key: Buffer;
  toolVersion: string;
  now?: () => Date;
  /**
   * Makes the export interruptible: it then yields to the event loop every so many rows, and aborting
   * stops it there; nothing is published. Without a signal the export runs to the end without
   * yielding, so a caller's own signal handler never finds the database busy with an open cursor.
   */
  signal?: AbortSignal;
  onProgress?: (file: string, rows: number) => void;
  /**
   * A helper thread spawned earlier (spawnHelper), so that it loads while the caller does other
   * things; the export owns and stops it. Without one the export spawns its own.
   */
  helper?: Helper | null;
}

export interface ExportResult {
  partner: string;
  as_of: string;
  dir: string;
  files: FileInfo[];
  members: number;
  excluded_no_consent: number;
  safe_harbor: boolean;
  date_precision: DatePrecision;
  key_fingerprint: string;
  suppressed_cells: number;
  rows: number;
  export_id: number;
}

/**
 * The configured partner with this id. Checked before anything touches the disk: the id becomes a
 * folder name, so only the ids the config defines (which the schema restricts to [a-z0-9-]) are used.
 */
export function findPartner(config: Config, id: string, configPath: string): Partner {
  if (config.partners.length === 0) {
    throw new ConfigError(`${configPath}: no partners configured; add a "partners" block (see README, "Partner exports")`);
  }
  const p = config.partners.find((x) => x.id === id);
  if (!p) {
    const ids = config.partners.map((x) => x.id).join(', ');
    throw new UsageError(`--partner ${JSON.stringify(id)} is not a partner in ${configPath}; configured partners: ${ids}`);
  }
  return p;
}

/**
 * What each partner campaign contributes to activity.csv: its rules' event types over
 * [start, min(end, as-of)], cut into periods at the partner's precision.
 */
export function campaignWindows(campaigns: readonly Campaign[], ids: readonly string[], asOf: string, precision: DatePrecision): CampaignWindow[] {
  return ids.map((id) => {
    const c = campaigns.find((x) => x.id === id);
    // The schema already rejects unknown campaign ids in a partner block; this guards a hand-built config.
    if (!c) throw new ConfigError(`partner campaign "${id}" is not a configured campaign; fix the config and rerun`);
    const end = c.end < asOf ? c.end : asOf;
    return {
      campaign_id: c.id,
      start: c.start,
      end,
      event_types: [...new Set(c.rules.map((r) => r.event_type))].sort(),
      // At day precision every date is its own period: the query groups by date, no list needed.
      periods: precision === 'day' ? [] : periodsBetween(c.start, end, precision),
    };
  });
}

/** Yield to the event loop every so many rows, so that Ctrl-C is noticed during a long export. */
const YIELD_EVERY = 20_000;

export async function exportPartner(db: Db, o: ExportOptions): Promise<ExportResult> {
  const { partner, asOf } = o;
  const precision = partner.date_precision;
  const now = o.now ?? (() => new Date());
  const generatedAt = now().toISOString();
  const partnerDir = join(o.outbox, partner.id);
  const windows = campaignWindows(o.config.campaigns, partner.campaigns, asOf, precision);
  const periodLength = PERIOD_LENGTH[precision];

  const dayPrecision = precision === 'day';
  const functions: ExportFunctions = {
    pseudonym: pseudonymiser(o.key),
    memberCells: (d, z, s) => `,${csvSafe(birthYear(d, asOf))},${csvSafe(zip3(z))},${csvSafe(stateCode(s))}\n`,
    csvText,
  };

  let counts: PopulationCounts;
  let staging: string | null = null;
  const open: CsvFileWriter[] = [];
  let commits: ReturnType<typeof watchCommits> | null = null;
  let helper: Helper | null = o.helper ?? null;
  let published: { dir: string; files: FileInfo[]; manifestSha: string; suppressed: number };
  try {
    const prepared = prepareStaging(partnerDir, asOf, generatedAt.replace(/[-:.]/g, ''));
    staging = prepared.staging;
    const dir = staging;

    // grants.csv and activity.csv on a helper thread when the database is a file (see helper.ts),
    // commits watched from before either snapshot begins. The helper only saves time: whatever
    // keeps it from being used leaves its files to this thread.
    try {
      commits = db.name && !db.memory ? watchCommits(db.name) : null;
    } catch {
      commits = null;
    }
    if (!commits) {
      await helper?.stop();
      helper = null;
    } else {
      helper ??= spawnHelper();
      helper?.start(
        {
          dbPath: db.name,
          partnerId: partner.id,
          requireConsent: partner.require_consent,
          windows,
          dayPrecision,
          key: o.key,
          dir,
          progressEvery: YIELD_EVERY,
        },
        (file, rows) => o.onProgress?.(file, rows),
      );
    }
    counts = openSnapshot(db, { partnerId: partner.id, requireConsent: partner.require_consent, windows, dayPrecision, functions });

    // The files' fsyncs, running while the next file is written; all awaited before the manifest.
    const durable: Promise<void>[] = [];
    /** Streams CSV lines into one file; `each` sees every line before it is written (for the summary). */
    const pump = async (name: string, header: readonly string[], lines: Iterable<string>, each?: (line: string) => void): Promise<FileInfo> => {
      const w = new CsvFileWriter(join(dir, name), header);
      open.push(w);
      for (const line of lines) {
        each?.(line);
        w.writeLine(line);
        if (w.rows % YIELD_EVERY === 0) {
          o.onProgress?.(name, w.rows);
          if (o.signal) {
            await new Promise((resolve) => setImmediate(resolve));
            o.signal.throwIfAborted();
          }
        }
      }
      const done = w.finish();
      durable.push(done.durable);
      return done.file;
    };

    // The summary is tallied from the same streams as the row-level files: the aggregates agree
    // with the files by construction.
    const memberTally = new MemberTally();
    const members = await pump('members.csv', MEMBERS_HEADER, iterateMemberLines(db), (l) => tallyMemberLine(memberTally, l));
    const k = partner.min_cell_size;
    const membersSummary = membersTable(memberTally.cells(), k);
    let grants: FileInfo;
    let activity: FileInfo;
    let grantCells: GrantCell[];
    const grantTally = new GrantTally();
    grants = await pump('grants.csv', GRANTS_HEADER, grantLines(db, partner.campaigns, asOf, periodLength, grantTally));
    grantCells = grantTally.cells();
    if (helper && helper.waitOpened() && !commits!.changed()) {
      // The helper read what this snapshot reads: it is no longer needed here.
      closeSnapshot(db);
      ({ activity } = await untilAborted(helper.result, o.signal));
    } else {
      if (helper) {
        await helper.stop();
        helper = null;
        // whatever the helper had written
        rmSync(join(dir, 'activity.csv'), { force: true });
      }
      activity = await pump('activity.csv', ACTIVITY_HEADER, iterateActivityLines(db, dayPrecision));
      closeSnapshot(db);
    }
    const grantsSummary = grantsTables(grantCells, k);
    const summary = await pump('summary.csv', SUMMARY_HEADER, [...grantsSummary.rows, ...membersSummary.rows].map(csvRecord));
    const files = [members, grants, activity, summary];
    await Promise.all(durable);
    // A signal that arrived during the last synchronous stretch is seen here, before anything is published.
    if (o.signal) await new Promise((resolve) => setImmediate(resolve));
    o.signal?.throwIfAborted();

    const manifest = buildManifest(o, generatedAt, counts, files);
    const m = writeDurable(join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
    const sums = [...files.map((f) => ({ name: f.name, sha256: f.sha256 })), { name: 'manifest.json', sha256: m.sha256 }]
      .sort((a, b) => (a.name < b.name ? -1 : 1))
      .map((f) => `${f.sha256}  ${f.name}\n`)
      .join('');
    writeDurable(join(dir, 'SHA256SUMS'), sums);
    // Last: a poller that copies the folder file by file knows it has all of it once _SUCCESS is there.
    writeDurable(join(dir, '_SUCCESS'), '');
    fsyncDir(dir);
    // Once more, so that a signal that came during the writes above (fsyncs can take a while) stops
    // the export rather than being noticed only after it is published.
    if (o.signal) await new Promise((resolve) => setImmediate(resolve));
    o.signal?.throwIfAborted();

    const target = publish(partnerDir, asOf, dir, prepared.previous);
    staging = null;
    published = { dir: target, files, manifestSha: m.sha256, suppressed: grantsSummary.suppressed + membersSummary.suppressed };
  } catch (err) {
    // The worker first: it may be writing into the staging folder.
    await helper?.stop();
    for (const w of open) w.discard();
    if (staging) discardStaging(staging);
    throw err;
  } finally {
    await helper?.stop();
    commits?.close();
    closeSnapshot(db);
  }

  // Recorded once the folder is published: a crash in between leaves a complete folder without its
  // row, and `nightly` (which goes by the rows) writes that export again, replacing it atomically.
  const rows = published.files.reduce((n, f) => n + f.rows, 0);
  const exportId = recordExport(db, {
    partner_id: partner.id,
    as_of: asOf,
    dir: published.dir,
    created_at: generatedAt,
    members: counts.members,
    rows,
    manifest_sha256: published.manifestSha,
  });
  return {
    partner: partner.id,
    as_of: asOf,
    dir: published.dir,
    files: published.files,
    members: counts.members,
    excluded_no_consent: counts.excluded_no_consent,
    safe_harbor: partner.safe_harbor,
    date_precision: precision,
    key_fingerprint: keyFingerprint(o.key),
    suppressed_cells: published.suppressed,
    rows,
    export_id: exportId,
  };
}

/** `promise`, or the abort signal's reason as soon as it is aborted. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/**
 * The generalised member fields go into members.csv as they are, unescaped, and the summary reads
 * them back from the lines by splitting at commas: those functions only ever return digits, `90+`,
 * USPS codes or '' (and the pseudonym is hex). Checked per value, so a future rule that lets other
 * text through fails loudly instead of writing a bad cell.
 */
function csvSafe(value: string): string {
  if (needsEscaping(value)) throw new Error('a generalised member field would need CSV escaping; members.csv cannot be written as it is');
  return value;
}

/** Counts a members.csv line `member,birth_year,zip3,state` into the members summary. */
function tallyMemberLine(tally: MemberTally, line: string): void {
  const a = line.indexOf(',');
  const b = line.indexOf(',', a + 1);
  tally.add(line.slice(b + 1, line.indexOf(',', b + 1)), line.slice(a + 1, b));
}

function buildManifest(o: ExportOptions, generatedAt: string, counts: { members: number; excluded_no_consent: number }, files: FileInfo[]) {
  const p = o.partner;
  return {
    format: 'rewards-partner-export/1',
    partner: p.id,
    as_of: o.asOf,
    generated_at: generatedAt,
    tool: { name: 'rewards', version: o.toolVersion },
    date_precision: p.date_precision,
    safe_harbor: p.safe_harbor,
    de_identification: p.safe_harbor
      ? 'HIPAA Safe Harbor (45 CFR 164.514(b)(2)): keyed pseudonyms, ZIP3 with restricted areas as 000, birth year top-coded at 90+, dates as years'
      : `NOT Safe Harbor: dates at ${p.date_precision} precision; an expert determination (45 CFR 164.514(b)(1)) is required before this data is used or shared`,
    expert_determination_required: !p.safe_harbor,
    key_fingerprint: keyFingerprint(o.key),
    min_cell_size: p.min_cell_size,
    require_consent: p.require_consent,
    campaigns: p.campaigns,
    members: counts.members,
    excluded_no_consent: counts.excluded_no_consent,
    files: files.map((f) => ({ name: f.name, rows: f.rows, bytes: f.bytes, sha256: f.sha256 })),
  };
}
