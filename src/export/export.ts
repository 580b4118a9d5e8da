import { join } from 'node:path';
import type { Campaign, Config, Partner } from '../config/schema.js';
import { ConfigError, UsageError } from '../errors.js';
import type { Db } from '../store/db.js';
import { type CampaignWindow, closeSnapshot, iterateActivity, iterateGrants, iterateMembers, openSnapshot, recordExport } from '../store/export.js';
import {
  birthYear,
  type DatePrecision,
  keyFingerprint,
  PERIOD_LENGTH,
  periodsBetween,
  pseudonym,
  stateCode,
  zip3,
} from './deidentify.js';
import { type Cell, CsvFileWriter, discardStaging, type FileInfo, fsyncDir, prepareStaging, publish, writeDurable } from './files.js';
import { GrantTally, grantsTables, MemberTally, membersTable, SUMMARY_HEADER } from './summary.js';

/**
 * `rewards export`: one partner's de-identified folder. The core of the command: it gets everything
 * it needs as arguments (config, key, clock, abort signal), reads one database snapshot and writes one
 * folder; it neither prints nor exits.
 */

export const MEMBERS_HEADER = ['member', 'birth_year', 'zip3', 'state'] as const;
export const GRANTS_HEADER = ['member', 'campaign_id', 'rule_id', 'reward_code', 'amount_cents', 'currency', 'earned_period'] as const;
export const ACTIVITY_HEADER = ['member', 'campaign_id', 'period', 'event_type', 'active_days', 'events'] as const;

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

  const counts = openSnapshot(db, partner.id, partner.require_consent, windows, {
    pseudonym: (u) => pseudonym(o.key, u),
    birthYear: (d) => birthYear(d, asOf),
    zip3,
    state: stateCode,
  });

  let staging: string | null = null;
  const open: CsvFileWriter[] = [];
  let published: { dir: string; files: FileInfo[]; manifestSha: string; suppressed: number };
  try {
    const prepared = prepareStaging(partnerDir, asOf, generatedAt.replace(/[-:.]/g, ''));
    staging = prepared.staging;
    const dir = staging;

    /** Streams rows into one CSV file; `each` sees every row before it is written (for the summary). */
    const pump = async <T extends Cell[]>(name: string, header: readonly string[], rows: Iterable<T>, each?: (r: T) => void): Promise<FileInfo> => {
      const w = new CsvFileWriter(join(dir, name), header);
      open.push(w);
      for (const r of rows) {
        each?.(r);
        w.write(r);
        if (w.rows % YIELD_EVERY === 0) {
          o.onProgress?.(name, w.rows);
          if (o.signal) {
            await new Promise((resolve) => setImmediate(resolve));
            o.signal.throwIfAborted();
          }
        }
      }
      return w.close();
    };

    // The summary is tallied from the same streams as the row-level files: one pass over the data,
    // and the aggregates agree with the files by construction.
    const memberTally = new MemberTally();
    const grantTally = new GrantTally();
    const files: FileInfo[] = [];
    files.push(await pump('members.csv', MEMBERS_HEADER, iterateMembers(db), (r) => memberTally.add(r[2], r[1])));
    files.push(
      await pump('grants.csv', GRANTS_HEADER, iterateGrants(db, partner.campaigns, asOf, periodLength), (r) =>
        grantTally.add(r[0], r[1], r[5], r[2], r[6], r[4]),
      ),
    );
    files.push(await pump('activity.csv', ACTIVITY_HEADER, iterateActivity(db, precision === 'day')));
    const k = partner.min_cell_size;
    const grantsSummary = grantsTables(grantTally.cells(), k);
    const membersSummary = membersTable(memberTally.cells(), k);
    files.push(await pump('summary.csv', SUMMARY_HEADER, [...grantsSummary.rows, ...membersSummary.rows]));
    closeSnapshot(db);
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
    o.signal?.throwIfAborted();

    const target = publish(partnerDir, asOf, dir, prepared.previous);
    staging = null;
    published = { dir: target, files, manifestSha: m.sha256, suppressed: grantsSummary.suppressed + membersSummary.suppressed };
  } catch (err) {
    for (const w of open) w.discard();
    if (staging) discardStaging(staging);
    throw err;
  } finally {
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
