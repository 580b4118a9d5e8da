/**
 * summary.csv: aggregates a partner may share more widely than the row-level files, with small cells
 * suppressed. Two kinds of table, told apart by the `table` column:
 * - `grants`: for each campaign (and currency), rule x earned period, with rule totals, period totals
 *   and the campaign total: members earning, grants, amount;
 * - `members`: zip3 x birth-year band, with totals: members.
 * Totals are rows whose key is `(total)`; combinations that are absent have no members.
 *
 * Every table is protected in two steps: cell-size suppression with its complements
 * (suppression.ts), then an audit of what the published cells still imply (audit.ts); a hidden cell
 * whose possible values span less than (min_cell_size - 1) / 2 gets company (an amount or another
 * cell hidden beside it) until none does.
 */
import { type AuditCell, auditIntervals, linesWithTotals } from './audit.js';
import { birthYearBand } from './deidentify.js';
import { complementarySuppression, isSmall, TOTAL, twoWayLines } from './suppression.js';


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
    if (band === undefined) this.bands.set(exportedBirthYear, (band = birthYearBand(exportedBirthYear) || UNKNOWN));
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
  /** Per campaign, currency and rule: the one amount all its grants carry, or null when they differ. */
  private readonly amounts = new Map<string, number | null>();

  add(member: string, campaignId: string, currency: string, ruleId: string, period: string, amountCents: number): void {
    const rk = `${campaignId}\u0000${currency}\u0000${ruleId}`;
    const seen = this.amounts.get(rk);
    if (seen === undefined) this.amounts.set(rk, amountCents);
    else if (seen !== amountCents) this.amounts.set(rk, null);
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

  /** Rules whose grants all carry one amount, `campaign\0currency\0rule` -> cents: a partner can multiply. */
  unitAmounts(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [k, v] of this.amounts) if (v !== null) out.set(k, v);
    return out;
  }
}

/** Totals sort after the values they total; values sort as text (periods and years sort by time). */
function keyOrder(a: string, b: string): number {
  if (a === b) return 0;
  if (a === TOTAL) return 1;
  if (b === TOTAL) return -1;
  return a < b ? -1 : 1;
}

export async function membersTable(cells: readonly MemberCell[], minCellSize: number): Promise<SummaryResult> {
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
  const { hidden } = await protect(
    list.map((c) => ({ row: c.row, col: c.col, count: c.members })),
    list.map((c) => isSmall(c.members, minCellSize)),
    minCellSize,
    false,
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
export async function grantsTables(cells: readonly GrantCell[], minCellSize: number, unitAmounts: ReadonlyMap<string, number> = new Map()): Promise<SummaryResult> {
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
    const units = new Map<string, number>();
    for (const c of list) {
      const u = unitAmounts.get(`${k}\u0000${c.row}`);
      if (u !== undefined) units.set(c.row, u);
    }
    const { hidden, amountHidden } = await protect(
      list.map((c) => ({ row: c.row, col: c.col, count: c.grants, members: c.members, amount: c.amount_cents })),
      list.map((c) => isSmall(c.members, minCellSize) || isSmall(c.grants, minCellSize)),
      minCellSize,
      true,
      units,
    );
    list.forEach((c, i) => {
      if (hidden[i] || amountHidden[i]) suppressed++;
      rows.push(
        hidden[i]
          ? ['grants', c.campaign_id, c.currency, c.row, c.col, '', '', '', '', '', 'true']
          : ['grants', c.campaign_id, c.currency, c.row, c.col, '', '', c.members, c.grants, amountHidden[i] ? '' : c.amount_cents, amountHidden[i] ? 'amount' : 'false'],
      );
    });
  }
  return { rows, suppressed };
}

/**
 * Which cells of one table to hide whole, and which to show without their amount: cell-size
 * suppression and its complements, then, while the audit finds a hidden cell that the published
 * figures pin to a range narrower than (min_cell_size - 1) / 2, one more thing hidden on each such
 * cell's row and column: an amount that its count does not give away, else the smallest shown cell.
 * Ends, at worst with every cell hidden, since each round hides something more.
 */
export async function protect(
  cells: readonly AuditCell[],
  primary: readonly boolean[],
  minCellSize: number,
  grants: boolean,
  unitAmount: ReadonlyMap<string, number> = new Map(),
): Promise<{ hidden: boolean[]; amountHidden: boolean[] }> {
  const lines = twoWayLines(cells);
  const values = cells.map((c) => c.count);
  const minWidth = (minCellSize - 1) / 2;
  const amountHidden = cells.map(() => false);
  let hidden = primary.slice();
  const linesOf = linesWithTotals(cells).map((l) => [l.total, ...l.cells]);
  for (;;) {
    hidden = complementarySuppression(values, hidden, lines);
    const narrow = new Set(
      (await auditIntervals({ cells, hidden, amountHidden, unitAmount, grants, minWidth })).filter((iv) => iv.max - iv.min < minWidth).map((iv) => iv.cell),
    );
    if (narrow.size === 0) return { hidden, amountHidden };
    let acted = false;
    // One change per row or column per round: a change can widen every narrow cell of its lines,
    // and hiding more than that is lost detail.
    const touched = new Set<number[]>();
    for (const cell of narrow) {
      const mine = linesOf.filter((l) => l.includes(cell));
      if (mine.some((l) => touched.has(l))) continue;
      for (const l of mine) touched.add(l);
      const near = [...new Set(mine.flat())].filter((i) => i !== cell && !hidden[i]);
      const smallest = (xs: number[]) => xs.sort((x, y) => values[x]! - values[y]! || x - y)[0];
      const amount = grants ? smallest(near.filter((i) => !amountHidden[i] && !unitAmount.has(cells[i]!.row))) : undefined;
      if (amount !== undefined) {
        amountHidden[amount] = true;
        acted = true;
        continue;
      }
      const other = smallest(near.filter((i) => values[i]! > 0));
      if (other !== undefined) {
        hidden[other] = true;
        acted = true;
      }
    }
    // Nothing left to hide beside the narrow cells: hide the whole table (every non-zero cell).
    if (!acted) hidden = values.map((v) => v > 0);
    if (!acted && narrow.size > 0 && hidden.every((h, i) => h || values[i] === 0)) {
      const again = (await auditIntervals({ cells, hidden, amountHidden, unitAmount, grants })).filter((iv) => iv.max - iv.min < minWidth);
      if (again.length > 0) throw new Error('table audit: a table with every cell hidden still pins a cell; this is a bug');
      return { hidden, amountHidden };
    }
  }
}
