import { type Db, stmt } from './db.js';

/**
 * All SQL of the partner export. The export reads one consistent snapshot: the population of a
 * partner is built once into a TEMP table (pseudonym and generalised fields computed by the core's
 * pure functions, registered as SQL functions), and the row-level files and aggregates are read from
 * it, so that personal fields never leave SQLite except through those functions. TEMP tables live in
 * SQLite's temp store, which spills to disk: memory stays flat however many members there are.
 *
 * Files are read in pseudonym order; where that needs a sort, SQLite's external sorter does it,
 * spilling to temp files: rows stream from SQLite to the file in constant memory.
 */

/** The core's de-identification functions, called by SQLite while it builds the population. */
export interface PopulationFunctions {
  pseudonym(userId: string): string;
  birthYear(birthDate: string | null): string;
  zip3(zip: string | null): string;
  state(state: string | null): string;
}

/** One campaign's part of activity.csv: its rules' event types, and its periods clipped to [start, min(end, as-of)]. */
export interface CampaignWindow {
  campaign_id: string;
  /** Local dates counted: [start, min(end, as-of)]; no window at all when the as-of date is before start. */
  start: string;
  end: string;
  event_types: readonly string[];
  periods: readonly { period: string; start: string; end: string }[];
}

/**
 * Rows come back as arrays in file column order (better-sqlite3's raw mode): they go to the CSV
 * writer as they are, with no object per row to build and collect.
 */
export type ExportMemberRow = [member: string, birth_year: string, zip3: string, state: string];
export type ExportGrantRow = [
  member: string,
  campaign_id: string,
  rule_id: string,
  reward_code: string,
  amount_cents: number,
  currency: string,
  earned_period: string,
];
export type ExportActivityRow = [member: string, campaign_id: string, period: string, event_type: string, active_days: number, events: number];

export interface PopulationCounts {
  members: number;
  excluded_no_consent: number;
}

function registerFunctions(db: Db, f: PopulationFunctions): void {
  const opts = { deterministic: true, varargs: false } as const;
  db.function('export_pseudonym', opts, (u: unknown) => f.pseudonym(String(u)));
  db.function('export_birth_year', opts, (d: unknown) => f.birthYear(typeof d === 'string' ? d : null));
  db.function('export_zip3', opts, (z: unknown) => f.zip3(typeof z === 'string' ? z : null));
  db.function('export_state', opts, (s: unknown) => f.state(typeof s === 'string' ? s : null));
}

/** Per open snapshot: whether it began the transaction, and the cache sizes to restore. */
const snapshots = new WeakMap<Db, { owns: boolean; mainCache: number; tempCache: number }>();

/**
 * Page caches while exporting, in KiB (negative cache_size). better-sqlite3's default is 16 MB for
 * each of the main and temp databases, and the sorter may use as much again: a big export would
 * fill them all while a small one does not, so memory would grow with the data up to that ceiling.
 * Small caches keep it flat; the reads are sequential and the OS page cache serves them as well.
 */
const EXPORT_MAIN_CACHE = -4000;
const EXPORT_TEMP_CACHE = -2000;

/**
 * Opens the read snapshot and builds the partner's population. Everything read until
 * `closeSnapshot` sees the database as it was here, even if another process writes meanwhile.
 */
export function openSnapshot(
  db: Db,
  partnerId: string,
  requireConsent: boolean,
  windows: readonly CampaignWindow[],
  f: PopulationFunctions,
): PopulationCounts {
  registerFunctions(db, f);
  snapshots.set(db, {
    // A caller already inside a transaction (none does today) keeps it: its snapshot is ours.
    owns: !db.inTransaction,
    mainCache: db.pragma('main.cache_size', { simple: true }) as number,
    tempCache: db.pragma('temp.cache_size', { simple: true }) as number,
  });
  db.pragma(`main.cache_size = ${EXPORT_MAIN_CACHE}`);
  db.pragma(`temp.cache_size = ${EXPORT_TEMP_CACHE}`);
  if (snapshots.get(db)!.owns) db.exec('BEGIN DEFERRED');
  try {
    db.exec(`
      DROP TABLE IF EXISTS temp.export_pop;
      DROP TABLE IF EXISTS temp.export_type;
      DROP TABLE IF EXISTS temp.export_period;
      -- Clustered by pseudonym: members.csv is a plain scan, and joins driven from here come out in
      -- pseudonym order without a sort. The index on user_id (built after the load, which is faster)
      -- carries the pseudonym: it serves lookups and scans in user_id order.
      CREATE TEMP TABLE export_pop (
        member     TEXT PRIMARY KEY,
        user_id    TEXT NOT NULL,
        birth_year TEXT NOT NULL,
        zip3       TEXT NOT NULL,
        state      TEXT NOT NULL
      ) WITHOUT ROWID;
      CREATE TEMP TABLE export_type (
        campaign_id TEXT NOT NULL,
        event_type  TEXT NOT NULL,
        start_date  TEXT NOT NULL,
        end_date    TEXT NOT NULL,
        PRIMARY KEY (campaign_id, event_type)
      ) WITHOUT ROWID;
      CREATE TEMP TABLE export_period (
        campaign_id TEXT NOT NULL,
        period      TEXT NOT NULL,
        start_date  TEXT NOT NULL,
        end_date    TEXT NOT NULL,
        PRIMARY KEY (campaign_id, period)
      ) WITHOUT ROWID;
    `);
    const consent = requireConsent ? 'AND share_consent = 1' : '';
    db.prepare(
      `INSERT INTO temp.export_pop (user_id, member, birth_year, zip3, state)
       SELECT user_id, export_pseudonym(user_id), export_birth_year(birth_date), export_zip3(zip), export_state(state)
       FROM members WHERE partner = ? ${consent}`,
    ).run(partnerId);
    db.exec('CREATE UNIQUE INDEX temp.export_pop_user ON export_pop (user_id)');
    const type = db.prepare('INSERT OR IGNORE INTO temp.export_type (campaign_id, event_type, start_date, end_date) VALUES (?, ?, ?, ?)');
    const period = db.prepare('INSERT OR IGNORE INTO temp.export_period (campaign_id, period, start_date, end_date) VALUES (?, ?, ?, ?)');
    for (const w of windows) {
      if (w.end < w.start) continue; // as-of before the campaign started: nothing counted yet
      for (const t of w.event_types) type.run(w.campaign_id, t, w.start, w.end);
      for (const p of w.periods) period.run(w.campaign_id, p.period, p.start, p.end);
    }
    const members = db.prepare('SELECT count(*) FROM temp.export_pop').pluck().get() as number;
    const excluded = requireConsent
      ? (db.prepare('SELECT count(*) FROM members WHERE partner = ? AND share_consent = 0').pluck().get(partnerId) as number)
      : 0;
    return { members, excluded_no_consent: excluded };
  } catch (err) {
    closeSnapshot(db);
    throw err;
  }
}

/** Ends the snapshot and drops the population (also after a failure: harmless when already closed). */
export function closeSnapshot(db: Db): void {
  const snap = snapshots.get(db);
  if (!snap) return;
  snapshots.delete(db);
  // ROLLBACK of a read-only transaction: nothing in the main database was written.
  if (snap.owns && db.inTransaction) db.exec('ROLLBACK');
  db.exec('DROP TABLE IF EXISTS temp.export_pop; DROP TABLE IF EXISTS temp.export_type; DROP TABLE IF EXISTS temp.export_period;');
  db.pragma(`main.cache_size = ${Number(snap.mainCache)}`);
  db.pragma(`temp.cache_size = ${Number(snap.tempCache)}`);
}

// Rows are ordered by pseudonym so that the order of a file carries nothing about user ids or about
// when members joined; the remaining keys make the order total, hence the files byte-stable.

export function iterateMembers(db: Db): IterableIterator<ExportMemberRow> {
  return db.prepare('SELECT member, birth_year, zip3, state FROM temp.export_pop ORDER BY member').raw().iterate() as IterableIterator<ExportMemberRow>;
}

/** Grants of the population in the given campaigns, earned up to the as-of date; periods cut to `periodLength` characters. */
export function iterateGrants(db: Db, campaignIds: readonly string[], asOf: string, periodLength: number): IterableIterator<ExportGrantRow> {
  // Driven from the population in pseudonym order (one index seek into grants per member), so the
  // rows come out grouped by member, which the summary's distinct-member counts rely on.
  return db
    .prepare(
      `SELECT p.member, g.campaign_id, g.rule_id, g.reward_code, g.amount_cents, g.currency, substr(g.earned_on, 1, ?) AS earned_period
       FROM temp.export_pop p CROSS JOIN grants g
       WHERE g.user_id = p.user_id AND g.campaign_id IN (SELECT value FROM json_each(?)) AND g.earned_on <= ?
       ORDER BY p.member, g.campaign_id, g.rule_id, g.earned_on, g.seq`,
    )
    .raw()
    .iterate(periodLength, JSON.stringify(campaignIds), asOf) as IterableIterator<ExportGrantRow>;
}

/**
 * Per member, campaign, event type and period: distinct active local dates and events. Periods are
 * date ranges joined in, not an expression over local_date, so that every grouping key is a column
 * in scan order and SQLite aggregates as it streams; at day precision each daily row is its own
 * group. The scan goes in user_id order, which reads daily_activity sequentially (in pseudonym
 * order every member would be a random seek); only the aggregated rows are then sorted by
 * pseudonym, by SQLite's external sorter, which spills to temp files rather than growing.
 */
export function iterateActivity(db: Db, dayPrecision: boolean): IterableIterator<ExportActivityRow> {
  const inner = dayPrecision
    ? `SELECT p.member, t.campaign_id, t.event_type, d.local_date AS period, 1 AS active_days, d.events
       FROM temp.export_pop p INDEXED BY export_pop_user CROSS JOIN temp.export_type t CROSS JOIN daily_activity d
       WHERE d.user_id = p.user_id AND d.event_type = t.event_type AND d.local_date BETWEEN t.start_date AND t.end_date`
    : `SELECT p.member, t.campaign_id, t.event_type, x.period, count(*) AS active_days, sum(d.events) AS events
       FROM temp.export_pop p INDEXED BY export_pop_user CROSS JOIN temp.export_type t CROSS JOIN temp.export_period x CROSS JOIN daily_activity d
       WHERE x.campaign_id = t.campaign_id AND d.user_id = p.user_id AND d.event_type = t.event_type
         AND d.local_date BETWEEN x.start_date AND x.end_date
       GROUP BY p.user_id, t.campaign_id, t.event_type, x.period`;
  return db
    .prepare(
      `SELECT member, campaign_id, period, event_type, active_days, events
       FROM (${inner})
       ORDER BY member, campaign_id, event_type, period`,
    )
    .raw()
    .iterate() as IterableIterator<ExportActivityRow>;
}

export interface ExportRecord {
  partner_id: string;
  as_of: string;
  dir: string;
  created_at: string;
  members: number;
  rows: number;
  manifest_sha256: string;
}

export function recordExport(db: Db, r: ExportRecord): number {
  const info = stmt(
    db,
    `INSERT INTO exports (partner_id, as_of, dir, created_at, members, rows, manifest_sha256)
     VALUES (@partner_id, @as_of, @dir, @created_at, @members, @rows, @manifest_sha256)`,
  ).run(r);
  return Number(info.lastInsertRowid);
}
