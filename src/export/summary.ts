import { birthYearBand } from './deidentify.js';
import { complementarySuppression, isSmall, TOTAL, twoWayLines } from './suppression.js';

/**
 * summary.csv: aggregates a partner may share more widely than the row-level files, with small cells
 * suppressed. Two kinds of table, told apart by the `table` column:
 * - `grants`: for each campaign (and currency), rule x earned period, with rule totals, period totals
 *   and the campaign total: members earning, grants, amount;
 * - `members`: zip3 x birth-year band, with totals: members.
 * Totals are rows whose key is `(total)`; combinations that are absent have no members.
 */

export const SUMMARY_HEADER = [
  'table',
  'campaign_id',
  'currency',
  'rule_id',
  'period',
  'zip3',
  'birth_year_band',
  'members',
  'grants',
  'amount_cents',
  'suppressed',
] as const;

export const UNKNOWN = 'unknown';

/** One interior cell of the members table. */
export interface MemberCell {
  zip3: string;
  band: string;
  members: number;
}

/** One cell of a campaign's grants table; null rule/period marks a total over it. */
export interface GrantCell {
  campaign_id: string;
  currency: string;
  rule_id: string | null;
  period: string | null;
  members: number;
  grants: number;
  amount_cents: number;
}

export type SummaryCell = string | number;

export interface SummaryResult {
  rows: SummaryCell[][];
  suppressed: number;
}

/**
 * Counts members by zip3 and birth-year band while members.csv streams by: memory bounded by the
 * number of (zip3, band) pairs, not by members.
 */
export class MemberTally {
  // By zip3, then band: two lookups and no key to build per member.
  private readonly byZip = new Map<string, Map<string, MemberCell>>();
  private readonly bands = new Map<string, string>();

  add(zip3: string, exportedBirthYear: string): void {
    let band = this.bands.get(exportedBirthYear);
    if (band === undefined) this.bands.set(exportedBirthYear, (band = birthYearBand(exportedBirthYear)));
    let byBand = this.byZip.get(zip3);
    if (!byBand) this.byZip.set(zip3, (byBand = new Map()));
    const c = byBand.get(band);
    if (c) c.members++;
    else byBand.set(band, { zip3, band, members: 1 });
  }

  cells(): MemberCell[] {
    const out: MemberCell[] = [];
    for (const byBand of this.byZip.values()) out.push(...byBand.values());
    return out;
  }
}

/**
 * Sums grants by campaign, currency, rule and period, and the totals over rule and/or period, while
 * grants.csv streams by. The rows must come grouped by member (they do: in pseudonym order), so a
 * member is counted once per cell by remembering the last member each cell saw.
 */
export class GrantTally {
  private readonly byKey = new Map<string, GrantCell & { last: string }>();

  add(member: string, campaignId: string, currency: string, ruleId: string, period: string, amountCents: number): void {
    this.bump(member, campaignId, currency, ruleId, period, amountCents);
    this.bump(member, campaignId, currency, ruleId, null, amountCents);
    this.bump(member, campaignId, currency, null, period, amountCents);
    this.bump(member, campaignId, currency, null, null, amountCents);
  }

  private bump(member: string, campaign_id: string, currency: string, rule_id: string | null, period: string | null, amount: number): void {
    const k = `${campaign_id}\u0000${currency}\u0000${rule_id ?? '\u0001'}\u0000${period ?? '\u0001'}`;
    let c = this.byKey.get(k);
    if (!c) this.byKey.set(k, (c = { campaign_id, currency, rule_id, period, members: 0, grants: 0, amount_cents: 0, last: '' }));
    if (c.last !== member) {
      c.members++;
      c.last = member;
    }
    c.grants++;
    c.amount_cents += amount;
  }

  cells(): GrantCell[] {
    return [...this.byKey.values()].map(({ last: _last, ...c }) => c);
  }
}

/** Totals sort after the values they total; values sort as text (periods and years sort by time). */
function keyOrder(a: string, b: string): number {
  if (a === b) return 0;
  if (a === TOTAL) return 1;
  if (b === TOTAL) return -1;
  return a < b ? -1 : 1;
}

export function membersTable(cells: readonly MemberCell[], minCellSize: number): SummaryResult {
  // Totals are sums here (each member is in exactly one zip3 and one band), so they are computed, not queried.
  const sums = new Map<string, { row: string; col: string; members: number }>();
  const add = (row: string, col: string, n: number) => {
    const k = `${row}\u0000${col}`;
    const s = sums.get(k);
    if (s) s.members += n;
    else sums.set(k, { row, col, members: n });
  };
  add(TOTAL, TOTAL, 0); // the population total is always shown, even when it is empty
  for (const c of cells) {
    const z = c.zip3 || UNKNOWN;
    const b = c.band || UNKNOWN;
    add(z, b, c.members);
    add(z, TOTAL, c.members);
    add(TOTAL, b, c.members);
    add(TOTAL, TOTAL, c.members);
  }
  const list = [...sums.values()].sort((x, y) => keyOrder(x.row, y.row) || keyOrder(x.col, y.col));
  const hidden = complementarySuppression(
    list.map((c) => c.members),
    list.map((c) => isSmall(c.members, minCellSize)),
    twoWayLines(list),
  );
  const rows = list.map((c, i): SummaryCell[] =>
    hidden[i] ? ['members', '', '', '', '', c.row, c.col, '', '', '', 'true'] : ['members', '', '', '', '', c.row, c.col, c.members, '', '', 'false'],
  );
  return { rows, suppressed: hidden.filter(Boolean).length };
}

/**
 * A campaign's grants tables. A cell is hidden when its members or its grants are small; the
 * complement is chosen by grants, the additive count (members earning are not additive: one member
 * can earn in several periods and rules), and a hidden cell hides its amount too, since the amount
 * would give the grants away.
 */
export function grantsTables(cells: readonly GrantCell[], minCellSize: number): SummaryResult {
  const groups = new Map<string, GrantCell[]>();
  for (const c of cells) {
    const k = `${c.campaign_id}\u0000${c.currency}`;
    let g = groups.get(k);
    if (!g) groups.set(k, (g = []));
    g.push(c);
  }
  const rows: SummaryCell[][] = [];
  let suppressed = 0;
  const keys = [...groups.keys()].sort();
  for (const k of keys) {
    const list = groups
      .get(k)!
      .map((c) => ({ ...c, row: c.rule_id ?? TOTAL, col: c.period ?? TOTAL }))
      .sort((x, y) => keyOrder(x.row, y.row) || keyOrder(x.col, y.col));
    const hidden = complementarySuppression(
      list.map((c) => c.grants),
      list.map((c) => isSmall(c.members, minCellSize) || isSmall(c.grants, minCellSize)),
      twoWayLines(list),
    );
    list.forEach((c, i) => {
      if (hidden[i]) suppressed++;
      rows.push(
        hidden[i]
          ? ['grants', c.campaign_id, c.currency, c.row, c.col, '', '', '', '', '', 'true']
          : ['grants', c.campaign_id, c.currency, c.row, c.col, '', '', c.members, c.grants, c.amount_cents, 'false'],
      );
    });
  }
  return { rows, suppressed };
}
