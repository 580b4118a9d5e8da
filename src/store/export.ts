/**
 * All SQL of the partner export and its release ledger. The export reads one consistent snapshot:
 * the partner's population is built once into a TEMP table, its personal fields turned into what may
 * leave (pseudonym, birth year, zip3, state) by the core's pure functions, registered as SQL
 * functions, so that personal fields never leave SQLite except through them. The row-level files and
 * the aggregates are read from that table as rows. TEMP tables live in SQLite's temp store, which
 * spills to disk: memory stays flat however many members there are.
 */
import { type Db, insertRows, postgres, sqlite, stmt } from './db.js';
import { EXPORT_MAIN_CACHE_KIB, EXPORT_TEMP_CACHE_KIB } from '../tuning.js';


/** The core's de-identification, called by SQLite while it builds the population. */
export interface PopulationFunctions {
  pseudonym(userId: string): string;
  birthYear(birthDate: string | null): string;
  zip3(zip: string | null): string;
  /** The state as exported beside the member's zip3. */
  state(zip: string | null, state: string | null): string;
}

/** One campaign's part of activity.csv: its rules' event types, and its periods clipped to [start, data end]. */
export interface CampaignWindow {
  campaign_id: string;
  /** Local dates counted: [start, end]; nothing when end < start. */
  start: string;
  end: string;
  event_types: readonly string[];
  periods: readonly { period: string; start: string; end: string }[];
}

export interface PopulationCounts {
  members: number;
  excluded_no_consent: number;
}

/** A grant of the population, in grants.csv column order. */
export type ExportGrantRow = [
  member: string,
  campaign_id: string,
  rule_id: string,
  reward_code: string,
  amount_cents: number,
  currency: string,
  earned_period: string,
];

export type ExportMemberRow = [member: string, birth_year: string, zip3: string, state: string];
export type ExportActivityRow = [member: string, campaign_id: string, period: string, event_type: string, active_days: number, events: number];

/** One combination of quasi-identifiers and how many members share it. */
export interface QiCount {
  birth_year: string;
  zip3: string;
  state: string;
  count: number;
}

/** Per open snapshot: whether it began the transaction, and the cache sizes to restore. */
const snapshots = new WeakMap<Db, { owns: boolean; mainCache: number; tempCache: number }>();


const DROP_TEMP = `
  DROP TABLE IF EXISTS temp.export_pop;
  DROP TABLE IF EXISTS temp.export_qi;
  DROP TABLE IF EXISTS temp.export_slot;`;

export interface SnapshotOptions {
  partnerId: string;
  requireConsent: boolean;
  windows: readonly CampaignWindow[];
  /** activity.csv has a row per local date, the date as its period. */
  dayPrecision: boolean;
  functions: PopulationFunctions;
}

/**
 * Opens the read snapshot and builds the partner's population. Everything read until
 * `closeSnapshot` sees the database as it was here, even if another process writes meanwhile.
 */
export function openSnapshot(db: Db, o: SnapshotOptions): PopulationCounts {
  const { partnerId, requireConsent, windows, dayPrecision, functions: f } = o;
  const lite = sqlite(db);
  const text = (v: unknown) => (typeof v === 'string' ? v : null);
  if (lite) {
    const opts = { deterministic: true, varargs: false } as const;
    lite.function('export_pseudonym', opts, (u: unknown) => f.pseudonym(String(u)));
    lite.function('export_birth_year', opts, (d: unknown) => f.birthYear(text(d)));
    lite.function('export_zip3', opts, (z: unknown) => f.zip3(text(z)));
    lite.function('export_state', opts, (z: unknown, s: unknown) => f.state(text(z), text(s)));
  }
  snapshots.set(db, {
    owns: !db.inTransaction,
    mainCache: db.pragma('main.cache_size', { simple: true }) as number,
    tempCache: db.pragma('temp.cache_size', { simple: true }) as number,
  });
  db.pragma(`main.cache_size = -${EXPORT_MAIN_CACHE_KIB}`);
  db.pragma(`temp.cache_size = -${EXPORT_TEMP_CACHE_KIB}`);
  if (snapshots.get(db)!.owns) db.exec('BEGIN DEFERRED');
  try {
    // The first read begins the snapshot (BEGIN DEFERRED alone does not).
    const excluded = db.prepare('SELECT count(*) FROM members WHERE partner = ? AND share_consent = 0').pluck().get(partnerId) as number;
    db.exec(`
      ${DROP_TEMP}
      -- Clustered by user_id: activity reads daily_activity (keyed by user_id) in its own order,
      -- and grants find their member by user_id.
      CREATE TEMP TABLE export_pop (
        user_id    TEXT PRIMARY KEY,
        member     TEXT NOT NULL,
        birth_year TEXT NOT NULL,
        zip3       TEXT NOT NULL,
        state      TEXT NOT NULL
      ) WITHOUT ROWID;
      -- members.csv's quasi-identifiers after k-anonymity: each combination and what it becomes.
      CREATE TEMP TABLE export_qi (
        birth_year TEXT NOT NULL,
        zip3       TEXT NOT NULL,
        state      TEXT NOT NULL,
        out_birth_year TEXT NOT NULL,
        out_zip3   TEXT NOT NULL,
        out_state  TEXT NOT NULL,
        PRIMARY KEY (birth_year, zip3, state)
      ) WITHOUT ROWID;
      -- What activity.csv counts: per campaign, event type of its rules and period ('' at day
      -- precision), the local dates [start_date, end_date], numbered in file order.
      CREATE TEMP TABLE export_slot (
        slot_no     INTEGER PRIMARY KEY,
        campaign_id TEXT NOT NULL,
        event_type  TEXT NOT NULL,
        period      TEXT NOT NULL,
        start_date  TEXT NOT NULL,
        end_date    TEXT NOT NULL
      );
    `);
    const consent = requireConsent ? 'AND share_consent = 1' : '';
    // members_export (migration 007) holds every column read here, in user_id order.
    const pg = postgres(db);
    if (pg) {
      // No functions of the process inside PostgreSQL: the members are read, their fields turned
      // into what may leave here, and copied into the TEMP table in batches.
      const rows = db.prepare(`SELECT user_id, birth_date, zip, state FROM members WHERE partner = ? ${consent} ORDER BY user_id`).raw().iterate(partnerId);
      let batch: unknown[][] = [];
      for (const r of rows as IterableIterator<[string, unknown, unknown, unknown]>) {
        batch.push([r[0], f.pseudonym(r[0]), f.birthYear(text(r[1])), f.zip3(text(r[2])), f.state(text(r[2]), text(r[3]))]);
        if (batch.length >= 10_000) {
          pg.copyRows('export_pop', ['user_id', 'member', 'birth_year', 'zip3', 'state'], batch);
          batch = [];
        }
      }
      pg.copyRows('export_pop', ['user_id', 'member', 'birth_year', 'zip3', 'state'], batch);
      db.exec('ANALYZE export_pop');
    } else {
      db.prepare(
        `INSERT INTO temp.export_pop (user_id, member, birth_year, zip3, state)
         SELECT user_id, export_pseudonym(user_id), export_birth_year(birth_date), export_zip3(zip), export_state(zip, state)
         FROM members WHERE partner = ? ${consent}
         ORDER BY user_id`,
      ).run(partnerId);
    }
    const slots: [string, string, string, string, string][] = [];
    for (const w of windows) {
      if (w.end < w.start) continue; // nothing counted yet
      for (const t of w.event_types) {
        if (dayPrecision) slots.push([w.campaign_id, t, '', w.start, w.end]);
        else for (const p of w.periods) slots.push([w.campaign_id, t, p.period, p.start, p.end]);
      }
    }
    slots.sort((a, b) => (a[0] !== b[0] ? (a[0] < b[0] ? -1 : 1) : a[1] !== b[1] ? (a[1] < b[1] ? -1 : 1) : a[2] < b[2] ? -1 : a[2] > b[2] ? 1 : 0));
    const slot = db.prepare('INSERT INTO temp.export_slot (slot_no, campaign_id, event_type, period, start_date, end_date) VALUES (?, ?, ?, ?, ?, ?)');
    const seen = new Set<string>();
    for (const s of slots) {
      const k = `${s[0]}\u0000${s[1]}\u0000${s[2]}`;
      if (seen.has(k)) continue;
      seen.add(k);
      slot.run(seen.size, ...s);
    }
    const members = db.prepare('SELECT count(*) FROM temp.export_pop').pluck().get() as number;
    return { members, excluded_no_consent: requireConsent ? excluded : 0 };
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
  db.exec(DROP_TEMP);
  db.pragma(`main.cache_size = ${Number(snap.mainCache)}`);
  db.pragma(`temp.cache_size = ${Number(snap.tempCache)}`);
}

/** The population's quasi-identifier combinations, with how many members share each. */
export function quasiIdentifierCounts(db: Db): QiCount[] {
  return db
    .prepare('SELECT birth_year, zip3, state, count(*) AS count FROM temp.export_pop GROUP BY birth_year, zip3, state ORDER BY birth_year, zip3, state')
    .all() as QiCount[];
}

/** What the combinations that change become in members.csv (the others are written as they are). */
export function setGeneralisation(db: Db, map: readonly { from: Omit<QiCount, 'count'>; to: Omit<QiCount, 'count'> }[]): void {
  insertRows(
    db,
    'temp.export_qi',
    ['birth_year', 'zip3', 'state', 'out_birth_year', 'out_zip3', 'out_state'],
    map.map(({ from, to }) => [from.birth_year, from.zip3, from.state, to.birth_year, to.zip3, to.state]),
  );
}

// Rows are ordered by pseudonym so that the order of a file carries nothing about user ids or about
// when members joined; the remaining keys make the order total, hence the files byte-stable.

/** members.csv rows: `member,birth_year,zip3,state`, generalised as setGeneralisation says. */
export function iterateMembers(db: Db): IterableIterator<ExportMemberRow> {
  return db
    .prepare(
      `SELECT p.member, coalesce(q.out_birth_year, p.birth_year), coalesce(q.out_zip3, p.zip3), coalesce(q.out_state, p.state)
       FROM temp.export_pop p LEFT JOIN temp.export_qi q ON q.birth_year = p.birth_year AND q.zip3 = p.zip3 AND q.state = p.state
       ORDER BY p.member`,
    )
    .raw()
    .iterate() as IterableIterator<ExportMemberRow>;
}

/**
 * The population's grants in the given campaigns, earned up to `through`, periods cut to
 * `periodLength` characters; grouped by member (the grants summary counts members by that).
 */
export function iterateGrants(db: Db, campaignIds: readonly string[], through: string, periodLength: number): IterableIterator<ExportGrantRow> {
  return db
    .prepare(
      `SELECT p.member, g.campaign_id, g.rule_id, g.reward_code, g.amount_cents, g.currency, substr(g.earned_on, 1, ?) AS earned_period
       FROM grants g CROSS JOIN temp.export_pop p
       WHERE g.campaign_id IN (SELECT value FROM json_each(?)) AND g.earned_on <= ? AND p.user_id = g.user_id
       ORDER BY p.member, g.campaign_id, g.rule_id, g.earned_on, g.seq`,
    )
    .raw()
    .iterate(periodLength, JSON.stringify(campaignIds), through) as IterableIterator<ExportGrantRow>;
}

/**
 * activity.csv rows: per member, campaign, event type and period, the distinct active local dates
 * and the events. Periods are date ranges joined in, so that every grouping key is a column in scan
 * order and SQLite aggregates as it streams; at day precision each daily row is its own line.
 */
export function iterateActivity(db: Db, dayPrecision: boolean): IterableIterator<ExportActivityRow> {
  const from = `FROM temp.export_pop p CROSS JOIN temp.export_slot s CROSS JOIN daily_activity d
       WHERE d.user_id = p.user_id AND d.event_type = s.event_type AND d.local_date BETWEEN s.start_date AND s.end_date`;
  const sql = dayPrecision
    ? `SELECT p.member, s.campaign_id, d.local_date, s.event_type, 1, d.events ${from} ORDER BY p.member, s.slot_no, d.local_date`
    : `SELECT p.member, s.campaign_id, s.period, s.event_type, count(*), sum(d.events) ${from} GROUP BY p.user_id, s.slot_no ORDER BY p.member, s.slot_no`;
  return db.prepare(sql).raw().iterate() as IterableIterator<ExportActivityRow>;
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

/** A release in the ledger; `content` is what every export of it carries (see migration 010). */
export interface ReleaseRow {
  release_id: number;
  partner_id: string;
  period: string;
  data_through: string;
  precision_rule: 'period' | 'as_of';
  date_precision: string;
  first_as_of: string;
  dir: string;
  content: string;
  created_at: string;
}

export function findRelease(db: Db, partnerId: string, period: string, rule: 'period' | 'as_of'): ReleaseRow | undefined {
  return stmt(db, 'SELECT * FROM releases WHERE partner_id = ? AND period = ? AND precision_rule = ?').get(partnerId, period, rule) as ReleaseRow | undefined;
}

/** Every release of a partner (all partners when null), oldest first. */
export function listReleases(db: Db, partnerId: string | null): ReleaseRow[] {
  return stmt(db, 'SELECT * FROM releases WHERE CAST(? AS TEXT) IS NULL OR partner_id = ? ORDER BY partner_id, data_through, release_id').all(partnerId, partnerId) as ReleaseRow[];
}

/**
 * Records a release before its folder is published (a partner must never hold files the ledger does
 * not know of): a new row, or the existing one pointed at the folder that now holds its files and,
 * for an as-of release, its new content. Returns its id.
 */
export function recordRelease(db: Db, r: Omit<ReleaseRow, 'release_id'>): number {
  return db.transaction(() => {
    const existing = findRelease(db, r.partner_id, r.period, r.precision_rule);
    if (!existing) {
      const info = stmt(
        db,
        `INSERT INTO releases (partner_id, period, data_through, precision_rule, date_precision, first_as_of, dir, content, created_at)
         VALUES (@partner_id, @period, @data_through, @precision_rule, @date_precision, @first_as_of, @dir, @content, @created_at)`,
      ).run(r);
      return Number(info.lastInsertRowid);
    }
    stmt(db, 'UPDATE releases SET dir = ?, content = ? WHERE release_id = ?').run(r.dir, r.content, existing.release_id);
    return existing.release_id;
  }).immediate();
}

/** Records an export once its folder is published. */
export function recordExport(db: Db, r: ExportRecord & { release_id: number }): number {
  const info = stmt(
    db,
    `INSERT INTO exports (partner_id, as_of, dir, created_at, members, rows, manifest_sha256, release_id)
     VALUES (@partner_id, @as_of, @dir, @created_at, @members, @rows, @manifest_sha256, @release_id)`,
  ).run(r);
  return Number(info.lastInsertRowid);
}
