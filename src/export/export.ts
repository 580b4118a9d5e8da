/** `rewards export`: one partner's de-identified folder, as the release ledger allows. */
import { readFileSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { Campaign, Config, Partner } from '../config/schema.js';
import { ConfigError, DataError, UsageError } from '../errors.js';
import type { Db } from '../store/db.js';
import {
  type CampaignWindow,
  closeSnapshot,
  findRelease,
  iterateActivity,
  iterateGrants,
  iterateMembers,
  openSnapshot,
  type PopulationCounts,
  quasiIdentifierCounts,
  recordExport,
  recordRelease,
  type ReleaseRow,
  setGeneralisation,
} from '../store/export.js';
import { crashPoint } from '../util/crash-point.js';
import { ACTIVITY_HEADER, csvRecord, GRANTS_HEADER, MEMBERS_HEADER } from './csv.js';
import {
  birthYear,
  type DatePrecision,
  keyFingerprint,
  PERIOD_LENGTH,
  periodsBetween,
  pseudonym,
  releaseCutoff,
  releasePeriod,
  stateBesideZip3,
  zip3,
} from './deidentify.js';
import { fsyncDir, writeNewFile } from '../util/durable.js';
import { CsvFileWriter, discardStaging, type FileInfo, prepareStaging, publish } from './files.js';
import { kAnonymise } from './kanon.js';
import { GrantTally, grantsTables, MemberTally, membersTable, SUMMARY_HEADER } from './summary.js';
import { EXPORT_YIELD_ROWS } from '../tuning.js';

/**
 * `rewards export`: one partner's de-identified folder. It gets everything it needs as arguments
 * (config, key, clock, abort signal), reads one database snapshot and writes one folder; it neither
 * prints nor exits.
 *
 * What a partner may receive depends on what it already holds (the release ledger, table
 * `releases`): a Safe Harbor export carries data only up to the end of the last complete period at
 * the partner's precision, and every export whose as-of date falls in the same period carries the
 * same data files, so that diffing two releases never dates anything finer than the precision.
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
  /** Makes the export interruptible between rows; aborting publishes nothing. */
  signal?: AbortSignal;
}

/** What a release carries besides its files, stored in the ledger so that a re-issue repeats it. */
interface ReleaseContent {
  files: FileInfo[];
  members: number;
  excluded_no_consent: number;
  k_anonymity: { k: number; generalised_rows: number; below_k: number };
  suppressed_cells: number;
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
  /** The last local date whose data the export carries. */
  data_through: string;
  /** The release it belongs to: the period its data closes (Safe Harbor) or its as-of date. */
  release: string;
  /** True when an earlier export of the same release was repeated, data files unchanged. */
  reissue: boolean;
  key_fingerprint: string;
  k_anonymity: ReleaseContent['k_anonymity'];
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
    throw new ConfigError(`${configPath}: no partners configured; add a "partners" block (see README, "rewards export")`);
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
 * [start, min(end, through)], cut into periods at the partner's precision.
 */
export function campaignWindows(campaigns: readonly Campaign[], ids: readonly string[], through: string, precision: DatePrecision): CampaignWindow[] {
  return ids.map((id) => {
    const c = campaigns.find((x) => x.id === id);
    // The schema already rejects unknown campaign ids in a partner block; this guards a hand-built config.
    if (!c) throw new ConfigError(`partner campaign "${id}" is not a configured campaign; fix the config and rerun`);
    const end = c.end < through ? c.end : through;
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

/** The release an export as of `asOf` belongs to, and the last day of data it carries. */
export function releaseOf(partner: Partner, asOf: string): { period: string; rule: 'period' | 'as_of'; through: string } {
  if (!partner.safe_harbor) return { period: asOf, rule: 'as_of', through: asOf };
  const through = releaseCutoff(asOf, partner.date_precision);
  return { period: releasePeriod(through, partner.date_precision), rule: 'period', through };
}

const YIELD_EVERY = EXPORT_YIELD_ROWS;
/** Where crash tests stop a file being written: past the writer's first flush. */
const CRASH_TEST_ROWS = 5_000;

export async function exportPartner(db: Db, o: ExportOptions): Promise<ExportResult> {
  const { partner, asOf } = o;
  const precision = partner.date_precision;
  const generatedAt = (o.now ?? (() => new Date()))().toISOString();
  const partnerDir = join(o.outbox, partner.id);
  const release = releaseOf(partner, asOf);
  const through = release.through;
  const windows = campaignWindows(o.config.campaigns, partner.campaigns, through, precision);
  const prior = findRelease(db, partner.id, release.period, release.rule);

  let staging: string | null = null;
  const open: CsvFileWriter[] = [];
  let published: { dir: string; content: ReleaseContent; manifestSha: string; reissue: boolean; releaseId: number };
  try {
    const prepared = prepareStaging(partnerDir, asOf, generatedAt.replace(/[-:.]/g, ''));
    staging = prepared.staging;
    crashPoint('export:staging');
    const dir = staging;

    // Each file's fsync runs while the next file is written; all are awaited before the manifest.
    const durable: Promise<void>[] = [];
    /** Streams rows into one CSV file, yielding now and then so that a signal is noticed. */
    const pump = async <R extends readonly (string | number)[]>(name: string, header: readonly string[], rows: Iterable<R>, each?: (row: R) => void): Promise<FileInfo> => {
      const w = new CsvFileWriter(join(dir, name), header);
      open.push(w);
      for (const row of rows) {
        each?.(row);
        w.writeLine(csvRecord(row));
        if (w.rows === CRASH_TEST_ROWS) crashPoint(`export:writing:${name}`);
        if (o.signal && w.rows % YIELD_EVERY === 0) {
          await new Promise((resolve) => setImmediate(resolve));
          o.signal.throwIfAborted();
        }
      }
      const done = w.finish();
      durable.push(done.durable);
      crashPoint(`export:written:${name}`);
      return done.file;
    };

    let counts: PopulationCounts;
    let content: ReleaseContent;
    try {
      counts = openSnapshot(db, {
        partnerId: partner.id,
        requireConsent: partner.require_consent,
        windows,
        dayPrecision: precision === 'day',
        functions: {
          pseudonym: (u) => pseudonym(o.key, u),
          birthYear: (d) => birthYear(d, through),
          zip3,
          state: (z, s) => stateBesideZip3(zip3(z), s),
        },
      });
      const classes = quasiIdentifierCounts(db);
      const k = kAnonymise(classes, partner.k_anonymity);
      setGeneralisation(
        db,
        classes.flatMap((c, i) => {
          const to = k.mapped[i]!;
          return to.birth_year === c.birth_year && to.zip3 === c.zip3 && to.state === c.state ? [] : [{ from: c, to }];
        }),
      );

      // The summary is tallied from the same rows as the files: the aggregates agree with them by construction.
      const memberTally = new MemberTally();
      const members = await pump('members.csv', MEMBERS_HEADER, iterateMembers(db), (r) => memberTally.add(r[2], r[1]));
      const grantTally = new GrantTally();
      const grants = await pump('grants.csv', GRANTS_HEADER, iterateGrants(db, partner.campaigns, through, PERIOD_LENGTH[precision]), (r) =>
        grantTally.add(r[0], r[1], r[5], r[2], r[6], r[4]),
      );
      const activity = await pump('activity.csv', ACTIVITY_HEADER, iterateActivity(db, precision === 'day'));
      closeSnapshot(db);
      const minCell = partner.min_cell_size;
      const membersSummary = await membersTable(memberTally.cells(), minCell);
      const grantsSummary = await grantsTables(grantTally.cells(), minCell, grantTally.unitAmounts());
      const summary = await pump('summary.csv', SUMMARY_HEADER, [...grantsSummary.rows, ...membersSummary.rows]);
      content = {
        files: [members, grants, activity, summary],
        members: counts.members,
        excluded_no_consent: counts.excluded_no_consent,
        k_anonymity: { k: partner.k_anonymity, generalised_rows: k.generalised, below_k: k.below_k },
        suppressed_cells: grantsSummary.suppressed + membersSummary.suppressed,
      };
    } finally {
      closeSnapshot(db);
    }

    // Within a period already released, the partner gets the same data files again, whatever has
    // arrived since: late data goes out with the next period's release.
    let reissue = false;
    if (prior && prior.precision_rule === 'period') {
      const before = JSON.parse(prior.content) as ReleaseContent;
      if (!sameFiles(before.files, content.files)) reissueFiles(prior, before, dir, partner.id);
      content = before;
      reissue = true;
    }

    await Promise.all(durable);
    o.signal?.throwIfAborted();
    const manifest = buildManifest(o, generatedAt, release, content, reissue, prior);
    const m = writeNewFile(join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
    crashPoint('export:manifest');
    const sums = [...content.files.map((f) => ({ name: f.name, sha256: f.sha256 })), { name: 'manifest.json', sha256: m.sha256 }]
      .sort((a, b) => (a.name < b.name ? -1 : 1))
      .map((f) => `${f.sha256}  ${f.name}\n`)
      .join('');
    writeNewFile(join(dir, 'SHA256SUMS'), sums);
    crashPoint('export:sums');
    // Last: a poller that copies the folder file by file knows it has all of it once _SUCCESS is there.
    writeNewFile(join(dir, '_SUCCESS'), '');
    fsyncDir(dir);
    // A signal that came during the writes above stops the export rather than being noticed after it is published.
    if (o.signal) await new Promise((resolve) => setImmediate(resolve));
    o.signal?.throwIfAborted();

    crashPoint('export:complete');
    // The ledger first: a crash between the two leaves a release the partner may not have received,
    // never files the ledger does not know of.
    const releaseId = recordRelease(db, {
      partner_id: partner.id,
      period: release.period,
      data_through: through,
      precision_rule: release.rule,
      date_precision: precision,
      first_as_of: prior?.first_as_of ?? asOf,
      dir,
      content: JSON.stringify(content),
      created_at: prior?.created_at ?? generatedAt,
    });
    crashPoint('export:recorded');
    const target = publish(partnerDir, asOf, dir, prepared.previous);
    crashPoint('export:published');
    published = { dir: target, content, manifestSha: m.sha256, reissue, releaseId };
    staging = null;
  } catch (err) {
    for (const w of open) w.discard();
    if (staging) discardStaging(staging);
    throw err;
  }

  // Recorded once the folder is published: a crash in between leaves a complete folder without its
  // row, and `nightly` (which goes by the rows) writes that export again, replacing it atomically.
  const { content } = published;
  const rows = content.files.reduce((n, f) => n + f.rows, 0);
  const exportId = recordExport(db, {
    partner_id: partner.id,
    as_of: asOf,
    dir: published.dir,
    created_at: generatedAt,
    members: content.members,
    rows,
    manifest_sha256: published.manifestSha,
    release_id: published.releaseId,
  });
  return {
    partner: partner.id,
    as_of: asOf,
    dir: published.dir,
    files: content.files,
    members: content.members,
    excluded_no_consent: content.excluded_no_consent,
    safe_harbor: partner.safe_harbor,
    date_precision: precision,
    data_through: through,
    release: release.period,
    reissue: published.reissue,
    key_fingerprint: keyFingerprint(o.key),
    k_anonymity: content.k_anonymity,
    suppressed_cells: content.suppressed_cells,
    rows,
    export_id: exportId,
  };
}

function sameFiles(a: readonly FileInfo[], b: readonly FileInfo[]): boolean {
  return a.length === b.length && a.every((f, i) => f.name === b[i]!.name && f.sha256 === b[i]!.sha256);
}

/**
 * The data files of an earlier export of the same release, written into `dir` in place of the ones
 * just made, each checked against the ledger's sha256 as read (the outbox may be a shared disk).
 */
function reissueFiles(prior: ReleaseRow, before: ReleaseContent, dir: string, partnerId: string): void {
  for (const f of before.files) {
    const src = join(prior.dir, f.name);
    let bytes: Buffer | null;
    try {
      bytes = readFileSync(src);
    } catch {
      bytes = null;
    }
    if (!bytes || createHash('sha256').update(bytes).digest('hex') !== f.sha256) {
      throw new DataError(
        `partner ${partnerId}: release ${prior.period} (data through ${prior.data_through}) was first exported as of ${prior.first_as_of}, ` +
          `and the data it covers has changed since; ${src} no longer holds the file released then, so the release cannot be re-issued ` +
          'unchanged. Restore that folder from a backup, or wait for the next period, whose release carries the changes',
      );
    }
    // The staging folder is this export's own: the fresh file goes, the released one takes its name.
    rmSync(join(dir, f.name));
    writeNewFile(join(dir, f.name), bytes);
  }
}

function buildManifest(
  o: ExportOptions,
  generatedAt: string,
  release: { period: string; rule: 'period' | 'as_of'; through: string },
  content: ReleaseContent,
  reissue: boolean,
  prior: ReleaseRow | undefined,
) {
  const p = o.partner;
  return {
    format: 'rewards-partner-export/2',
    partner: p.id,
    as_of: o.asOf,
    data_through: release.through,
    release: {
      period: release.period,
      rule: release.rule === 'period' ? `data up to the end of the last complete ${p.date_precision} on or before as_of` : 'data up to as_of',
      reissue,
      first_as_of: prior?.first_as_of ?? o.asOf,
    },
    generated_at: generatedAt,
    tool: { name: 'rewards', version: o.toolVersion },
    date_precision: p.date_precision,
    safe_harbor: p.safe_harbor,
    de_identification: p.safe_harbor
      ? 'HIPAA Safe Harbor (45 CFR 164.514(b)(2)): keyed pseudonyms, ZIP3 with restricted areas as 000 and no state beside them, birth year top-coded at 80+, dates as years, data up to the end of the last complete year'
      : `NOT Safe Harbor: dates at ${p.date_precision} precision and data up to the as-of date; an expert determination (45 CFR 164.514(b)(1)) is required before this data is used or shared`,
    expert_determination_required: !p.safe_harbor,
    key_fingerprint: keyFingerprint(o.key),
    min_cell_size: p.min_cell_size,
    k_anonymity: content.k_anonymity,
    require_consent: p.require_consent,
    campaigns: p.campaigns,
    members: content.members,
    excluded_no_consent: content.excluded_no_consent,
    files: content.files.map((f) => ({ name: f.name, rows: f.rows, bytes: f.bytes, sha256: f.sha256 })),
  };
}
