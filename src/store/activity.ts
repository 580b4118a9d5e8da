/**
 * Reading counted activity: a source's (member, day, events) rows from the daily rollup or a
 * filtered source's rollup, member by member, and which members changed or are eligible.
 */
import { type Db, stmt } from './db.js';
import type { RollupRead, SourceSpec } from './sources.js';

// JSON_LISTS: long lists (members, waiting grants) come out of SQLite as one JSON array, which
// JSON.parse turns into values far faster than better-sqlite3 hands over a row per item.

/** What a rule counts: a source (sources.ts), read only for the members of these partners (undefined: everyone). */
export interface ActivitySource extends SourceSpec {
  partners?: readonly string[];
}

export interface ActivityRow {
  user_id: string;
  local_date: string;
  events: number;
}

/** Whose rows to read: the given members, or every (eligible) member with counted activity. */
type Who = { users: readonly string[] } | 'everyone';

/** A rule's grants, and the most a member can have (grants are numbered 1, 2, ... per member). */
export interface RuleGrants {
  campaignId: string;
  ruleId: string;
  cap: number;
}

/**
 * The counted (member, day, events) rows of a source in [@from, @to], for `who`, as SQL over alias
 * columns user_id, local_date, events. A stored source's TEMP overlay is added (`merged`) or left
 * to the caller. With `grants`, members who already have the rule's most grants are left out of a
 * list of members before their rows are sought: nothing more can come of them.
 *
 * Every rollup is read member by member, each a seek on its key (..., user_id, local_date), so a
 * member's rows come together and in date order without a sort: for the given members, the members
 * of the eligible partners, else those with such an event in the window. (Reading through the
 * (event_type, local_date) index instead means a lookup per row and a sort of them all: several
 * times slower for a common event type.)
 */
function rowsQuery(read: RollupRead, src: ActivitySource, who: Who, merged: boolean, grants?: RuleGrants): { sql: string; params: Record<string, unknown> } {
  // Every value is a named parameter: the SQL text depends only on the shape of the question (which
  // rollup, whose rows, how many partners), never on its values.
  const partners = src.partners ?? [];
  const params: Record<string, unknown> = {
    ...Object.fromEntries(partners.map((p, i) => [`p${i}`, p])),
    users: who === 'everyone' ? null : JSON.stringify(who.users),
    campaignId: grants?.campaignId ?? null,
    ruleId: grants?.ruleId ?? null,
    cap: grants?.cap ?? null,
    eventType: read.kind === 'daily' ? read.eventType : src.eventType,
    sourceId: read.kind === 'source' ? read.sourceId : null,
    key: read.kind === 'temp' ? read.key : read.kind === 'source' ? (read.overlay ?? null) : null,
  };
  const below = (column: string) =>
    grants ? ` AND ${column} NOT IN (SELECT user_id FROM grants WHERE campaign_id = @campaignId AND rule_id = @ruleId AND seq >= @cap)` : '';
  // The partners as a list of parameters, not a JSON array: SQLite then seeks the (partner, user_id) index per partner.
  const partnerMembers = `SELECT user_id FROM members WHERE partner IN (${partners.map((_, i) => `@p${i}`).join(', ')})`;
  const filter =
    who !== 'everyone'
      ? src.partners
        ? `a.user_id IN (${partnerMembers} AND user_id IN (SELECT value FROM json_each(@users))${below('user_id')})`
        : `a.user_id IN (SELECT value FROM json_each(@users) WHERE true${below('value')})`
      : src.partners
        ? `a.user_id IN (${partnerMembers}${below('user_id')})`
        : read.kind === 'daily'
          ? // daily_activity is keyed by member first: find the members with such an event in the window.
            'a.user_id IN (SELECT user_id FROM daily_activity WHERE event_type = @eventType AND local_date BETWEEN @from AND @to)'
          : // A source's rows are all of one source: its key range is the list of members.
            'true';
  const window = 'a.local_date BETWEEN @from AND @to';
  const temp = `SELECT a.user_id, a.local_date, a.events FROM temp.source_overlay a WHERE a.source_key = @key AND ${filter} AND ${window}`;
  switch (read.kind) {
    case 'daily':
      return { sql: `SELECT a.user_id, a.local_date, a.events FROM daily_activity a WHERE ${filter} AND a.event_type = @eventType AND ${window}`, params };
    case 'temp':
      return { sql: temp, params };
    case 'source': {
      const stored = `SELECT a.user_id, a.local_date, a.events FROM source_activity a WHERE a.source_id = @sourceId AND ${filter} AND ${window}`;
      if (!merged || !read.overlay) return { sql: stored, params };
      return { sql: `SELECT user_id, local_date, sum(events) AS events FROM (${stored} UNION ALL ${temp}) u GROUP BY user_id, local_date`, params };
    }
  }
}

/** One member's counted days of a source, and how many grants of a rule it already has. */
export interface MemberActivity {
  user_id: string;
  /**
   * The member's counted dates joined by ','. In date order as read, but SQLite does not promise
   * the order of group_concat, and a date may repeat with the overlay's events added: the reader
   * sorts and sums when needed (rules/evaluate.ts joinedDays).
   */
  dates: string;
  /** The events of each of those dates, joined by ','. */
  counts: string;
  /** Highest grant sequence number of the rule for this member (0: none). */
  granted: number;
}

/**
 * Every member's counted days of a source in [from, to], one member at a time, streamed: for the
 * given members, or every eligible member with counted activity. With `grantsOf`, each comes with
 * its grant count for that rule, looked up in the grants index per member rather than loaded for
 * every member of the rule, and members at the rule's cap are mostly not read at all (rowsQuery).
 *
 * One row per member with its days as text rather than one row per day: building JavaScript rows
 * per day cost more than SQLite's whole search (measured 2x on the benchmark's rollup). A TEMP
 * overlay (a few nights of events, FOLD_SHARE in sources.ts) is read first and appended to the
 * members' stored days: merged in SQL, the stored rows would all go through a sort.
 */
export function* iterateMemberActivity(
  db: Db,
  read: RollupRead,
  src: ActivitySource,
  from: string,
  to: string,
  o: { users?: readonly string[]; grantsOf?: RuleGrants } = {},
): Generator<MemberActivity> {
  const who: Who = o.users ? { users: o.users } : 'everyone';
  const granted = 'SELECT coalesce(max(g.seq), 0) FROM grants g WHERE g.campaign_id = @campaignId AND g.rule_id = @ruleId AND g.user_id';
  const grouped = (q: { sql: string; params: Record<string, unknown> }, withGrants: boolean) => {
    const sql = `SELECT r.user_id, group_concat(r.local_date) AS dates, group_concat(r.events) AS counts, ${withGrants ? `(${granted} = r.user_id)` : '0'} AS granted
                 FROM (${q.sql}) r GROUP BY r.user_id`;
    return stmt(db, sql).iterate({ ...q.params, from, to }) as IterableIterator<MemberActivity>;
  };
  const extra = new Map<string, MemberActivity>();
  if (read.kind === 'source' && read.overlay) {
    for (const m of grouped(rowsQuery({ kind: 'temp', key: read.overlay }, src, who, false, o.grantsOf), false)) extra.set(m.user_id, m);
  }
  for (const m of grouped(rowsQuery(read, src, who, false, o.grantsOf), o.grantsOf !== undefined)) {
    const x = extra.get(m.user_id);
    if (x) {
      extra.delete(m.user_id);
      yield { ...m, dates: `${m.dates},${x.dates}`, counts: `${m.counts},${x.counts}` };
    } else {
      yield m;
    }
  }
  // Members with overlay rows only (new to the source since its last fold).
  const lookup = o.grantsOf ? stmt(db, `${granted} = @user`).pluck() : undefined;
  for (const x of extra.values()) yield { ...x, granted: lookup ? (lookup.get({ ...o.grantsOf, user: x.user_id }) as number) : 0 };
}

/** Counted (member, day) rows of one member in [from, to], by date. */
export function activityOfUser(db: Db, read: RollupRead, src: ActivitySource, from: string, to: string, user: string): ActivityRow[] {
  const q = rowsQuery(read, src, { users: [user] }, true);
  // ORDER BY the rollups' key order: by local_date alone, SQLite reads every member's rows of the type
  // through the (event_type, local_date) index to skip a sort of one member's few.
  return stmt(db, `SELECT user_id, local_date, events FROM (${q.sql}) r ORDER BY user_id, local_date`).all({ ...q.params, from, to }) as ActivityRow[];
}

/** How many (eligible) members have counted activity in [from, to]. */
export function countActiveMembers(db: Db, read: RollupRead, src: ActivitySource, from: string, to: string): number {
  const q = rowsQuery(read, src, 'everyone', true);
  return stmt(db, `SELECT count(DISTINCT user_id) FROM (${q.sql}) r`).pluck().get({ ...q.params, from, to }) as number;
}

/**
 * Of `users`, those whose partner is one of `partners`: seeks in the (partner, user_id) index of
 * migration 008, whose pages are a fifth of the members table's. (Written as a join of json_each
 * and members, SQLite may put json_each in the inner loop: a rescan of the list per member.)
 */
export function eligibleAmong(db: Db, users: readonly string[], partners: readonly string[]): string[] {
  const list = stmt(
    db,
    `SELECT json_group_array(user_id) FROM members
     WHERE partner IN (SELECT value FROM json_each(@partners)) AND user_id IN (SELECT value FROM json_each(@users))`,
  )
    .pluck()
    .get({ users: JSON.stringify(users), partners: JSON.stringify(partners) }) as string;
  return JSON.parse(list) as string[];
}

/**
 * Members whose counted activity may have changed since a campaign's last run, per event type: a
 * rule re-reads only the members whose events of its type changed (a new symptom does not change
 * a streak of logged days). A replaced member record counts for every type.
 */
export function changedUsers(
  db: Db,
  o: { eventTypes: string[]; sinceSeq: number; lastAsOf: string; to: string; sinceMemberBatch: number; memberBatch: number },
): Map<string, Set<string>> {
  const types = o.eventTypes.map(() => '?').join(', ');
  const byType = new Map(o.eventTypes.map((t) => [t, new Set<string>()]));
  // New events, whatever their date; and the days the window newly covers as time passes (events
  // ingested earlier but dated after the last as-of), in one UNION: the two mostly repeat each other.
  // NOT INDEXED: otherwise SQLite may walk an index of events (by member, or every event of the
  // types) instead of reading the few rows past the watermark by rowid.
  const fresh = `SELECT user_id, event_type FROM events NOT INDEXED WHERE seq > ? AND event_type IN (${types})`;
  const covered = `SELECT user_id, event_type FROM daily_activity WHERE event_type IN (${types}) AND local_date > ? AND local_date <= ?`;
  // One JSON array per type rather than a row per member: thousands of rows cost more to hand over
  // than SQLite's whole search (JSON_LISTS).
  const [sql, params] =
    o.to > o.lastAsOf
      ? [`${fresh} UNION ${covered}`, [o.sinceSeq, ...o.eventTypes, ...o.eventTypes, o.lastAsOf, o.to]]
      : [fresh, [o.sinceSeq, ...o.eventTypes]];
  const lists = stmt(db, `SELECT event_type, json_group_array(DISTINCT user_id) FROM (${sql}) c GROUP BY event_type`).raw().all(...params) as [string, string][];
  for (const [t, users] of lists) for (const u of JSON.parse(users) as string[]) byType.get(t)!.add(u);
  // Member records replaced since: the partner, hence eligibility, may have changed. members has
  // no index on batch_id, so this reads them all: only when a members batch came in since.
  if (o.memberBatch > o.sinceMemberBatch) {
    for (const u of stmt(db, 'SELECT user_id FROM members WHERE batch_id > ?').pluck().all(o.sinceMemberBatch) as string[]) {
      for (const set of byType.values()) set.add(u);
    }
  }
  return byType;
}

/** Whether any counted activity of this event type is stored (the daily rollup's type index). */
export function eventTypeSeen(db: Db, eventType: string): boolean {
  return stmt(db, 'SELECT 1 FROM daily_activity WHERE event_type = ? LIMIT 1').get(eventType) !== undefined;
}

/** Whether any stored event of this type has this top-level property (properties are canonical JSON: `"key":`). */
export function propertySeen(db: Db, eventType: string, key: string): boolean {
  const pattern = `%${JSON.stringify(key).replace(/[\\%_]/g, (c) => `\\${c}`)}:%`;
  return stmt(db, "SELECT 1 FROM events WHERE event_type = ? AND properties LIKE ? ESCAPE '\\' LIMIT 1").get(eventType, pattern) !== undefined;
}

/** Whether any of these event types has counted activity dated in [from, to]. */
export function activityInWindow(db: Db, eventTypes: readonly string[], from: string, to: string): boolean {
  return stmt(db, 'SELECT 1 FROM daily_activity WHERE event_type IN (SELECT value FROM json_each(?)) AND local_date BETWEEN ? AND ? LIMIT 1').get(JSON.stringify(eventTypes), from, to) !== undefined;
}
