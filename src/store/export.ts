import Database from 'better-sqlite3';
import { type Db, stmt } from './db.js';

/**
 * All SQL of the partner export. The export reads one consistent snapshot: the population of a
 * partner is built once into a TEMP table (pseudonym and generalised fields computed by the core's
 * pure functions, registered as SQL functions), and the row-level files and aggregates are read from
 * it, so that personal fields never leave SQLite except through those functions. TEMP tables live in
 * SQLite's temp store, which spills to disk: memory stays flat however many members there are.
 *
 * members.csv and activity.csv, the big files, come out of SQLite as finished CSV lines in pseudonym
 * order, sorted by SQLite's external sorter (which spills to temp files rather than growing):
 * JavaScript only copies text to the file, with no value, array or object per cell. Their text cells
 * are formatted by the core all the same: the generalised member fields when the population is
 * built, campaign ids, event types and periods once per campaign when the small slot table is
 * filled, dates by `export_csv`. Grants, far fewer, come out as rows that the core formats and
 * tallies for the summary.
 */

/** The core's functions, called by SQLite while it builds the population and formats lines. */
export interface ExportFunctions {
  /** The member's pseudonym: PSEUDONYM_CHARS characters (hex HMAC-SHA256). */
  pseudonym(userId: string): string;
  /**
   * The members.csv cells after the pseudonym, each with its leading `,`, and the line end; without
   * it the population has no cells (enough for activity.csv).
   */
  memberCells?(birthDate: string | null, zip: string | null, state: string | null): string;
  /** A text cell as it goes into a file: neutralised and quoted (see src/export/csv.ts). */
  csvText(value: string): string;
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

export interface PopulationCounts {
  members: number;
  excluded_no_consent: number;
}

/** A grant of the population as grants.csv and the grants summary need it, in file column order. */
export type ExportGrantRow = [
  member: string,
  campaign_id: string,
  rule_id: string,
  reward_code: string,
  amount_cents: number,
  currency: string,
  earned_period: string,
];

/** Length of a pseudonym: the population's `line` begins with it (see openSnapshot). */
export const PSEUDONYM_CHARS = 64;

function registerFunctions(db: Db, f: ExportFunctions): void {
  const opts = { deterministic: true, varargs: false } as const;
  const text = (v: unknown) => (typeof v === 'string' ? v : null);
  const cells = f.memberCells;
  // One call per member for the pseudonym and the cells together: a call from SQLite into
  // JavaScript costs about as much as formatting the cells.
  db.function('export_member_line', opts, (u: unknown, d: unknown, z: unknown, s: unknown) => {
    const member = f.pseudonym(String(u));
    if (member.length !== PSEUDONYM_CHARS) throw new Error(`a pseudonym must have ${PSEUDONYM_CHARS} characters`);
    return cells ? member + cells(text(d), text(z), text(s)) : member;
  });
  db.function('export_csv', opts, (v: unknown) => f.csvText(String(v)));
}

/** Per open snapshot: whether it began the transaction, and the cache sizes to restore. */
const snapshots = new WeakMap<Db, { owns: boolean; mainCache: number; tempCache: number }>();

/**
 * Page caches while exporting, in KiB (negative cache_size). better-sqlite3's default is 16 MB for
 * each of the main and temp databases, and the sorter may use as much again: a big export would
 * fill them all while a small one does not, so memory would grow with the data up to that ceiling.
 * Small caches keep it flat; the reads are sequential and the OS page cache serves them as well.
 * Nothing goes into a temp table in random key order (the population is appended in user_id order;
 * pseudonym order comes from the sorter), so a small temp cache does not mean page churn.
 */
const EXPORT_MAIN_CACHE = -2000;
const EXPORT_TEMP_CACHE = -1000;

const DROP_TEMP = `
  DROP TABLE IF EXISTS temp.export_pop;
  DROP TABLE IF EXISTS temp.export_slot_key;
  DROP TABLE IF EXISTS temp.export_slot;`;

export interface SnapshotOptions {
  partnerId: string;
  requireConsent: boolean;
  windows: readonly CampaignWindow[];
  /** activity.csv has a row per local date: its slots are campaign x event type. */
  dayPrecision: boolean;
  functions: ExportFunctions;
  /** Called as soon as the snapshot exists, before the population is built. */
  onSnapshot?: () => void;
}

/**
 * Opens the read snapshot and builds the partner's population. Everything read until
 * `closeSnapshot` sees the database as it was here, even if another process writes meanwhile.
 */
export function openSnapshot(db: Db, o: SnapshotOptions): PopulationCounts {
  const { partnerId, requireConsent, windows, dayPrecision, functions: f } = o;
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
    // The first read begins the snapshot (BEGIN DEFERRED alone does not).
    const excluded = db.prepare('SELECT count(*) FROM members WHERE partner = ? AND share_consent = 0').pluck().get(partnerId) as number;
    o.onSnapshot?.();
    db.exec(`
      ${DROP_TEMP}
      -- Clustered by user_id: the activity join reads daily_activity (keyed by user_id) in its own
      -- order, sequentially, and grants find their member by user_id. \`line\` is the member's
      -- members.csv line (or only the pseudonym, when the cells are not needed): it begins with
      -- the pseudonym, a fixed number of characters, so ordering by it orders by pseudonym.
      CREATE TEMP TABLE export_pop (
        user_id TEXT PRIMARY KEY,
        line    TEXT NOT NULL
      ) WITHOUT ROWID;
      -- What activity.csv counts: per campaign, event type of its rules and period ('' at day
      -- precision), the local dates [start_date, end_date]; and the line's text after the member:
      -- head ',campaign,period,event_type,' then the counts, or by day head ',campaign,', the date,
      -- tail ',event_type,', the counts.
      CREATE TEMP TABLE export_slot_key (
        campaign_id TEXT NOT NULL,
        event_type  TEXT NOT NULL,
        period      TEXT NOT NULL,
        start_date  TEXT NOT NULL,
        end_date    TEXT NOT NULL,
        head        TEXT NOT NULL,
        tail        TEXT NOT NULL,
        PRIMARY KEY (campaign_id, event_type, period)
      ) WITHOUT ROWID;
    `);
    const consent = requireConsent ? 'AND share_consent = 1' : '';
    // members_export (migration 007) holds every column read here, in user_id order: the population
    // is one index range, appended to export_pop as it is read.
    db.prepare(
      `INSERT INTO temp.export_pop (user_id, line)
       SELECT user_id, export_member_line(user_id, ${f.memberCells ? 'birth_date, zip, state' : 'NULL, NULL, NULL'})
       FROM members WHERE partner = ? ${consent}
       ORDER BY user_id`,
    ).run(partnerId);
    const slot = db.prepare(
      `INSERT OR IGNORE INTO temp.export_slot_key (campaign_id, event_type, period, start_date, end_date, head, tail)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    );
    for (const w of windows) {
      if (w.end < w.start) continue; // as-of before the campaign started: nothing counted yet
      const campaign = f.csvText(w.campaign_id);
      for (const t of w.event_types) {
        const type = f.csvText(t);
        if (dayPrecision) slot.run(w.campaign_id, t, '', w.start, w.end, `,${campaign},`, `,${type},`);
        else for (const p of w.periods) slot.run(w.campaign_id, t, p.period, p.start, p.end, `,${campaign},${f.csvText(p.period)},${type},`, '');
      }
    }
    // Numbered in file order (campaign, event type, period): activity sorts by member and this number.
    db.exec(`CREATE TEMP TABLE export_slot AS SELECT * FROM temp.export_slot_key ORDER BY campaign_id, event_type, period`);
    const members = db.prepare('SELECT count(*) FROM temp.export_pop').pluck().get() as number;
    return { members, excluded_no_consent: requireConsent ? excluded : 0 };
  } catch (err) {
    closeSnapshot(db);
    throw err;
  }
}

/**
 * Tells whether another connection committed to the database file since this was called: a
 * read-only connection of its own, whose data_version changes with every commit made through any
 * other connection (this process's included). Two read transactions that both began between the
 * call and a `changed()` that says false saw the same database: how a helper thread's connection
 * is known to have read the snapshot the export's connection reads.
 */
export function watchCommits(path: string): { changed(): boolean; close(): void } {
  const probe = new Database(path, { readonly: true, fileMustExist: true });
  const version = () => probe.pragma('data_version', { simple: true }) as number;
  const start = version();
  return { changed: () => version() !== start, close: () => probe.close() };
}

/** Ends the snapshot and drops the population (also after a failure: harmless when already closed). */
export function closeSnapshot(db: Db): void {
  const snap = snapshots.get(db);
  if (!snap) return;
  snapshots.delete(db);
  // ROLLBACK of a read-only transaction: nothing in the main database was written.
  if (snap.owns && db.inTransaction) db.exec('ROLLBACK');
  db.exec(DROP_TEMP);
  db.pragma(`main.cache_size = ${Number(snap.mainCache)}`);
  db.pragma(`temp.cache_size = ${Number(snap.tempCache)}`);
}

// Rows are ordered by pseudonym so that the order of a file carries nothing about user ids or about
// when members joined; the remaining keys make the order total, hence the files byte-stable. Lines
// end with their "\n"; numbers are SQLite integers, which print as JavaScript prints them.

/** members.csv lines: `member,birth_year,zip3,state`. */
export function iterateMemberLines(db: Db): IterableIterator<string> {
  return db.prepare('SELECT line FROM temp.export_pop ORDER BY line').pluck().iterate() as IterableIterator<string>;
}

/**
 * The population's grants in the given campaigns, earned up to the as-of date, periods cut to
 * `periodLength` characters; grouped by member (the grants summary counts members by that).
 */
export function iterateGrants(db: Db, campaignIds: readonly string[], asOf: string, periodLength: number): IterableIterator<ExportGrantRow> {
  return db
    .prepare(
      `SELECT substr(p.line, 1, ${PSEUDONYM_CHARS}), g.campaign_id, g.rule_id, g.reward_code, g.amount_cents, g.currency, substr(g.earned_on, 1, ?) AS earned_period
       FROM grants g CROSS JOIN temp.export_pop p
       WHERE g.campaign_id IN (SELECT value FROM json_each(?)) AND g.earned_on <= ? AND p.user_id = g.user_id
       ORDER BY p.line, g.campaign_id, g.rule_id, g.earned_on, g.seq`,
    )
    .raw()
    .iterate(periodLength, JSON.stringify(campaignIds), asOf) as IterableIterator<ExportGrantRow>;
}

/**
 * activity.csv lines: `member,campaign_id,period,event_type,active_days,events`, per member,
 * campaign, event type and period: distinct active local dates and events. Periods are date ranges
 * joined in, not an expression over local_date, so that every grouping key is a column in scan
 * order and SQLite aggregates as it streams; at day precision each daily row is its own line. The
 * scan goes in user_id order, which reads daily_activity sequentially (in pseudonym order every
 * member would be a random seek); only the finished lines are then sorted by pseudonym.
 */
export function iterateActivityLines(db: Db, dayPrecision: boolean): IterableIterator<string> {
  const from = `FROM temp.export_pop p CROSS JOIN temp.export_slot s CROSS JOIN daily_activity d
       WHERE d.user_id = p.user_id AND d.event_type = s.event_type AND d.local_date BETWEEN s.start_date AND s.end_date`;
  const sql = dayPrecision
    ? `SELECT substr(p.line, 1, ${PSEUDONYM_CHARS}) || s.head || export_csv(d.local_date) || s.tail || '1,' || d.events || char(10)
       ${from}
       ORDER BY p.line, s.rowid, d.local_date`
    : `SELECT substr(p.line, 1, ${PSEUDONYM_CHARS}) || s.head || count(*) || ',' || sum(d.events) || char(10)
       ${from}
       GROUP BY p.user_id, s.rowid
       ORDER BY p.line, s.rowid`;
  return db.prepare(sql).pluck().iterate() as IterableIterator<string>;
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
