import { type Db, stmt } from './db.js';

/**
 * All SQL of the partner export. The export reads one consistent snapshot: the population of a
 * partner is built once into a TEMP table (pseudonym and generalised fields computed by the core's
 * pure functions, registered as SQL functions), and the row-level files and aggregates are read from
 * it, so that personal fields never leave SQLite except through those functions. TEMP tables live in
 * SQLite's temp store, which spills to disk: memory stays flat however many members there are.
 */

/** The core's de-identification functions, called by SQLite while it builds the population. */
export interface PopulationFunctions {
  pseudonym(userId: string): string;
  birthYear(birthDate: string | null): string;
  band(birthYear: string): string;
  zip3(zip: string | null): string;
  state(state: string | null): string;
  /** A YYYY-MM-DD date at the export's precision. */
  period(date: string): string;
}

export interface CampaignWindow {
  campaign_id: string;
  /** Local dates [start, end] counted for this campaign (end already clamped to the as-of date). */
  start: string;
  end: string;
  event_types: readonly string[];
}

export interface ExportMemberRow {
  member: string;
  birth_year: string;
  zip3: string;
  state: string;
}

export interface ExportGrantRow {
  member: string;
  campaign_id: string;
  rule_id: string;
  reward_code: string;
  amount_cents: number;
  currency: string;
  earned_period: string;
}

export interface ExportActivityRow {
  member: string;
  campaign_id: string;
  period: string;
  event_type: string;
  active_days: number;
  events: number;
}

export interface PopulationCounts {
  members: number;
  excluded_no_consent: number;
}

function registerFunctions(db: Db, f: PopulationFunctions): void {
  const opts = { deterministic: true, varargs: false } as const;
  db.function('export_pseudonym', opts, (u: unknown) => f.pseudonym(String(u)));
  db.function('export_birth_year', opts, (d: unknown) => f.birthYear(typeof d === 'string' ? d : null));
  db.function('export_band', opts, (y: unknown) => f.band(String(y ?? '')));
  db.function('export_zip3', opts, (z: unknown) => f.zip3(typeof z === 'string' ? z : null));
  db.function('export_state', opts, (s: unknown) => f.state(typeof s === 'string' ? s : null));
  db.function('export_period', opts, (d: unknown) => f.period(String(d)));
}

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
  // A caller already inside a transaction (none does today) keeps it: its snapshot is ours.
  const owns = !db.inTransaction;
  if (owns) db.exec('BEGIN DEFERRED');
  ownedSnapshots.set(db, owns);
  try {
    db.exec(`
      DROP TABLE IF EXISTS temp.export_pop;
      DROP TABLE IF EXISTS temp.export_window;
      CREATE TEMP TABLE export_pop (
        user_id    TEXT PRIMARY KEY,
        member     TEXT NOT NULL,
        birth_year TEXT NOT NULL,
        band       TEXT NOT NULL,
        zip3       TEXT NOT NULL,
        state      TEXT NOT NULL
      ) WITHOUT ROWID;
      CREATE TEMP TABLE export_window (
        campaign_id TEXT NOT NULL,
        event_type  TEXT NOT NULL,
        start_date  TEXT NOT NULL,
        end_date    TEXT NOT NULL,
        PRIMARY KEY (campaign_id, event_type)
      ) WITHOUT ROWID;
    `);
    const consent = requireConsent ? 'AND share_consent = 1' : '';
    db.prepare(
      `INSERT INTO temp.export_pop (user_id, member, birth_year, band, zip3, state)
       SELECT user_id, export_pseudonym(user_id), by, export_band(by), export_zip3(zip), export_state(state)
       FROM (SELECT user_id, export_birth_year(birth_date) AS by, zip, state FROM members WHERE partner = ? ${consent})`,
    ).run(partnerId);
    db.exec('CREATE INDEX temp.export_pop_member ON export_pop (member)');
    const win = db.prepare('INSERT OR IGNORE INTO temp.export_window (campaign_id, event_type, start_date, end_date) VALUES (?, ?, ?, ?)');
    for (const w of windows) {
      if (w.end < w.start) continue; // as-of before the campaign started: nothing counted yet
      for (const t of w.event_types) win.run(w.campaign_id, t, w.start, w.end);
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

const ownedSnapshots = new WeakMap<Db, boolean>();

/** Ends the snapshot and drops the population (also after a failure: harmless when already closed). */
export function closeSnapshot(db: Db): void {
  // ROLLBACK of a read-only transaction: nothing in the main database was written.
  if (ownedSnapshots.get(db) && db.inTransaction) db.exec('ROLLBACK');
  ownedSnapshots.delete(db);
  db.exec('DROP TABLE IF EXISTS temp.export_pop; DROP TABLE IF EXISTS temp.export_window;');
}

// Rows are ordered by pseudonym so that the order of a file carries nothing about user ids or about
// when members joined; the remaining keys make the order total, hence the files byte-stable.

export function iterateMembers(db: Db): IterableIterator<ExportMemberRow> {
  return db.prepare('SELECT member, birth_year, zip3, state FROM temp.export_pop ORDER BY member').iterate() as IterableIterator<ExportMemberRow>;
}

/** Grants of the population in the given campaigns, earned up to the as-of date. */
export function iterateGrants(db: Db, campaignIds: readonly string[], asOf: string): IterableIterator<ExportGrantRow> {
  return db
    .prepare(
      `SELECT p.member, g.campaign_id, g.rule_id, g.reward_code, g.amount_cents, g.currency, export_period(g.earned_on) AS earned_period
       FROM temp.export_pop p JOIN grants g ON g.user_id = p.user_id
       WHERE g.campaign_id IN (SELECT value FROM json_each(?)) AND g.earned_on <= ?
       ORDER BY p.member, g.campaign_id, g.rule_id, g.earned_on, g.seq`,
    )
    .iterate(JSON.stringify(campaignIds), asOf) as IterableIterator<ExportGrantRow>;
}

/** Per member, campaign, period and event type: distinct active local dates and events. */
export function iterateActivity(db: Db): IterableIterator<ExportActivityRow> {
  return db
    .prepare(
      `SELECT p.member, w.campaign_id, export_period(d.local_date) AS period, d.event_type,
              count(*) AS active_days, sum(d.events) AS events
       FROM temp.export_pop p
       CROSS JOIN temp.export_window w
       JOIN daily_activity d ON d.user_id = p.user_id AND d.event_type = w.event_type AND d.local_date BETWEEN w.start_date AND w.end_date
       GROUP BY p.member, w.campaign_id, period, d.event_type
       ORDER BY p.member, w.campaign_id, period, d.event_type`,
    )
    .iterate() as IterableIterator<ExportActivityRow>;
}

export function memberCells(db: Db): { zip3: string; band: string; members: number }[] {
  return db.prepare('SELECT zip3, band, count(*) AS members FROM temp.export_pop GROUP BY zip3, band').all() as {
    zip3: string;
    band: string;
    members: number;
  }[];
}

export interface GrantAggregate {
  campaign_id: string;
  currency: string;
  rule_id: string | null;
  period: string | null;
  members: number;
  grants: number;
  amount_cents: number;
}

/** Grants of the population by campaign, currency, rule and period, with the totals over rule and/or period. */
export function grantAggregates(db: Db, campaignIds: readonly string[], asOf: string): GrantAggregate[] {
  const from = `FROM temp.export_pop p JOIN grants g ON g.user_id = p.user_id
                WHERE g.campaign_id IN (SELECT value FROM json_each(?)) AND g.earned_on <= ?`;
  const measures = 'count(DISTINCT g.user_id) AS members, count(*) AS grants, sum(g.amount_cents) AS amount_cents';
  const ids = JSON.stringify(campaignIds);
  const q = (rule: string, period: string, groupBy: string) =>
    db
      .prepare(`SELECT g.campaign_id, g.currency, ${rule} AS rule_id, ${period} AS period, ${measures} ${from} GROUP BY g.campaign_id, g.currency${groupBy}`)
      .all(ids, asOf) as GrantAggregate[];
  const period = 'export_period(g.earned_on)';
  return [
    ...q('g.rule_id', period, `, g.rule_id, ${period}`),
    ...q('g.rule_id', 'NULL', ', g.rule_id'),
    ...q('NULL', period, `, ${period}`),
    ...q('NULL', 'NULL', ''),
  ];
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
