import { describe, expect, it } from 'vitest';
import { complementarySuppression, isSmall, TOTAL, twoWayLines } from '../../src/export/suppression.js';
import { GrantTally, grantsTables, MemberTally, membersTable } from '../../src/export/summary.js';

describe('isSmall', () => {
  it('is 1 to k - 1', () => {
    expect([0, 1, 10, 11, 12].map((n) => isSmall(n, 11))).toEqual([false, true, true, false, false]);
  });
});

describe('complementarySuppression', () => {
  it('hides the smallest other non-zero cell when a line has exactly one hidden cell', () => {
    // a + b + c = total; a is small.
    const values = [3, 40, 25, 68];
    const hidden = complementarySuppression(values, values.map((v) => isSmall(v, 11)), [[0, 1, 2, 3]]);
    expect(hidden).toEqual([true, false, true, false]);
  });

  it('does nothing when no cell is small, or when two are already hidden', () => {
    expect(complementarySuppression([20, 30, 50], [false, false, false], [[0, 1, 2]])).toEqual([false, false, false]);
    expect(complementarySuppression([2, 3, 40, 45], [true, true, false, false], [[0, 1, 2, 3]])).toEqual([true, true, false, false]);
  });

  it('never picks a zero cell as the complement', () => {
    expect(complementarySuppression([0, 4, 0, 30, 34], [false, true, false, false, false], [[0, 1, 2, 3, 4]])).toEqual([
      false,
      true,
      false,
      true,
      false,
    ]);
  });

  it('follows a complement into its other line until every line has 0 or >= 2 hidden cells', () => {
    // 2 x 2 table with margins:
    //        c1   c2   T
    //   r1    3   20  23
    //   r2   30   40  70
    //   T    33   60  93
    const cells = [
      { row: 'r1', col: 'c1', v: 3 },
      { row: 'r1', col: 'c2', v: 20 },
      { row: 'r1', col: TOTAL, v: 23 },
      { row: 'r2', col: 'c1', v: 30 },
      { row: 'r2', col: 'c2', v: 40 },
      { row: 'r2', col: TOTAL, v: 70 },
      { row: TOTAL, col: 'c1', v: 33 },
      { row: TOTAL, col: 'c2', v: 60 },
      { row: TOTAL, col: TOTAL, v: 93 },
    ];
    const lines = twoWayLines(cells);
    const hidden = complementarySuppression(
      cells.map((c) => c.v),
      cells.map((c) => isSmall(c.v, 11)),
      lines,
    );
    for (const line of lines) {
      const n = line.filter((i) => hidden[i]).length;
      expect(n === 0 || n >= 2).toBe(true);
    }
    // r1c1 primary; row r1 -> r1c2 (20 < 23); column c1 -> r2c1 (30 < 33); column c2 -> r2c2; rows balanced.
    expect(cells.filter((_, i) => hidden[i]).map((c) => `${c.row}/${c.col}`)).toEqual(['r1/c1', 'r1/c2', 'r2/c1', 'r2/c2']);
  });

  it('hides a total that equals a single hidden cell', () => {
    const cells = [
      { row: 'r1', col: '2026' },
      { row: 'r1', col: TOTAL },
    ];
    expect(complementarySuppression([5, 5], [true, true], twoWayLines(cells))).toEqual([true, true]);
    expect(complementarySuppression([5, 5], [true, false], twoWayLines(cells))).toEqual([true, true]);
  });
});

describe('summary tables', () => {
  it('members: zip3 x band with totals, small cells and their complements empty and flagged', async () => {
    const tally = new MemberTally();
    const add = (z: string, y: string, n: number) => {
      for (let i = 0; i < n; i++) tally.add(z, y);
    };
    add('021', '1985', 20);
    add('021', '1990', 15);
    add('606', '1985', 12);
    add('606', '1990', 3); // small
    add('', '', 30); // unknown zip and birth year
    const { rows, suppressed } = await membersTable(tally.cells(), 11);
    const byKey = new Map(rows.map((r) => [`${r[5]}/${r[6]}`, r]));
    expect(byKey.get('606/1990-1999')).toEqual(['members', '', '', '', '', '606', '1990-1999', '', '', '', 'true']);
    // Row 606: complement is 606/1980-1989 (12 < total 15); then column 1980-1989 needs another: 021 (20).
    expect(byKey.get('606/1980-1989')![10]).toBe('true');
    expect(byKey.get('606/(total)')![7]).toBe(15);
    expect(byKey.get('unknown/unknown')![7]).toBe(30);
    expect(byKey.get('(total)/(total)')![7]).toBe(80);
    expect(rows.at(-1)![5]).toBe(TOTAL);
    expect(suppressed).toBe(rows.filter((r) => r[10] === 'true').length);
    // Every row and column keeps 0 or >= 2 hidden cells.
    const check = (pick: (r: (typeof rows)[number]) => unknown) => {
      const groups = new Map<unknown, number>();
      for (const r of rows) if (r[10] === 'true') groups.set(pick(r), (groups.get(pick(r)) ?? 0) + 1);
      for (const n of groups.values()) expect(n).toBeGreaterThanOrEqual(2);
    };
    check((r) => r[5]);
    check((r) => r[6]);
  });

  it('members: an empty population still shows its total of 0', async () => {
    expect((await membersTable([], 11)).rows).toEqual([['members', '', '', '', '', TOTAL, TOTAL, 0, '', '', 'false']]);
  });

  it('grants: distinct members per cell from rows grouped by member, rule x period with totals', async () => {
    const t = new GrantTally();
    // m1 earns five-days twice in 2026-03 and once in 2026-04; m2 once in 2026-03.
    t.add('m1', 'c', 'USD', 'five-days', '2026-03', 500);
    t.add('m1', 'c', 'USD', 'five-days', '2026-03', 500);
    t.add('m1', 'c', 'USD', 'five-days', '2026-04', 500);
    t.add('m2', 'c', 'USD', 'five-days', '2026-03', 500);
    t.add('m2', 'c', 'USD', 'birth', '2026-03', 2500);
    const cells = t.cells();
    const get = (rule: string | null, period: string | null) => cells.find((c) => c.rule_id === rule && c.period === period)!;
    expect(get('five-days', '2026-03')).toMatchObject({ members: 2, grants: 3, amount_cents: 1500 });
    expect(get('five-days', null)).toMatchObject({ members: 2, grants: 4, amount_cents: 2000 });
    expect(get(null, '2026-03')).toMatchObject({ members: 2, grants: 4, amount_cents: 4000 });
    expect(get(null, null)).toMatchObject({ members: 2, grants: 5, amount_cents: 4500 });
    const { rows } = await grantsTables(cells, 2);
    expect(rows.map((r) => `${r[3]}/${r[4]}`)).toEqual([
      'birth/2026-03',
      'birth/(total)',
      'five-days/2026-03',
      'five-days/2026-04',
      'five-days/(total)',
      '(total)/2026-03',
      '(total)/2026-04',
      '(total)/(total)',
    ]);
  });

  it('grants: a small rule hides its cells, its total, and complements in the period column', async () => {
    const cells = [
      { campaign_id: 'c', currency: 'USD', rule_id: 'birth', period: '2026', members: 30, grants: 30, amount_cents: 75000 },
      { campaign_id: 'c', currency: 'USD', rule_id: 'birth', period: null, members: 30, grants: 30, amount_cents: 75000 },
      { campaign_id: 'c', currency: 'USD', rule_id: 'five-days', period: '2026', members: 12, grants: 15, amount_cents: 7500 },
      { campaign_id: 'c', currency: 'USD', rule_id: 'five-days', period: null, members: 12, grants: 15, amount_cents: 7500 },
      { campaign_id: 'c', currency: 'USD', rule_id: 'ten', period: '2026', members: 4, grants: 4, amount_cents: 1200 },
      { campaign_id: 'c', currency: 'USD', rule_id: 'ten', period: null, members: 4, grants: 4, amount_cents: 1200 },
      { campaign_id: 'c', currency: 'USD', rule_id: null, period: '2026', members: 32, grants: 49, amount_cents: 83700 },
      { campaign_id: 'c', currency: 'USD', rule_id: null, period: null, members: 32, grants: 49, amount_cents: 83700 },
    ];
    const { rows, suppressed } = await grantsTables(cells, 11);
    const hidden = rows.filter((r) => r[10] === 'true').map((r) => `${r[3]}/${r[4]}`);
    expect(hidden).toEqual(['five-days/2026', 'five-days/(total)', 'ten/2026', 'ten/(total)']);
    expect(suppressed).toBe(4);
    for (const r of rows.filter((x) => x[10] === 'true')) expect(r.slice(7, 10)).toEqual(['', '', '']);
    expect(rows.find((r) => r[3] === 'birth' && r[4] === '2026')!.slice(7)).toEqual([30, 30, 75000, 'false']);
  });
});
