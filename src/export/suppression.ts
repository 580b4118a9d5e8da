/**
 * Small-cell suppression for the summary, following the CMS cell-size suppression policy: counts from
 * 1 to min_cell_size - 1 are not shown (primary suppression), and whenever a row or column of a table
 * would then have exactly one hidden cell, which its total would give away, the smallest other
 * non-zero cell of that row or column is hidden too (complementary suppression), until no row or
 * column has exactly one. Zero is shown: it reveals no one.
 */

/** A count that must not be shown: 1 to k - 1. */
export function isSmall(count: number, minCellSize: number): boolean {
  return count >= 1 && count < minCellSize;
}

/**
 * `values[i]` is the additive count of cell i; `primary[i]` says whether cell i is hidden for its own
 * sake; each line lists the cells of one row or column, its total included (total = sum of the rest).
 * Returns which cells to hide. Deterministic: ties go to the cell listed first.
 */
export function complementarySuppression(
  values: readonly number[],
  primary: readonly boolean[],
  lines: readonly (readonly number[])[],
): boolean[] {
  const hidden = primary.slice();
  let changed = true;
  while (changed) {
    changed = false;
    for (const line of lines) {
      let count = 0;
      for (const i of line) if (hidden[i]) count++;
      if (count !== 1) continue;
      let pick = -1;
      for (const i of line) {
        if (hidden[i] || values[i]! <= 0) continue;
        if (pick === -1 || values[i]! < values[pick]!) pick = i;
      }
      // All others zero: the hidden cell equals the total and the total is the pick, so this only
      // happens when the hidden cell is itself a zero total; hiding a zero is harmless, so take any.
      if (pick === -1) pick = line.find((i) => !hidden[i]) ?? -1;
      if (pick === -1) continue;
      hidden[pick] = true;
      changed = true;
    }
  }
  return hidden;
}

/** Label of a row or column total in a two-way table. */
export const TOTAL = '(total)';

/**
 * The lines of a two-way table whose cells carry (row, col) keys and whose totals are cells with
 * TOTAL as the row and/or column key: one line per row key and one per column key.
 */
export function twoWayLines(cells: readonly { row: string; col: string }[]): number[][] {
  const byRow = new Map<string, number[]>();
  const byCol = new Map<string, number[]>();
  cells.forEach((c, i) => {
    let r = byRow.get(c.row);
    if (!r) byRow.set(c.row, (r = []));
    r.push(i);
    let k = byCol.get(c.col);
    if (!k) byCol.set(c.col, (k = []));
    k.push(i);
  });
  return [...byRow.values(), ...byCol.values()];
}
