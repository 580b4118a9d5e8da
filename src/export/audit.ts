/**
 * The partner's arithmetic, done before the partner does it: for each hidden cell of a summary table,
 * the smallest and largest value consistent with everything the table publishes, found by linear
 * programming (HiGHS, the solver τ-ARGUS and sdcTable users audit tables with). What the partner
 * knows and the model states:
 * - every row and column adds up to its total (grants and amounts; members only bound their totals,
 *   since one member can earn in several cells);
 * - a hidden cell is at least 1 (zeros are shown), and has at least one grant per member earning;
 * - where all of a rule's grants carry one amount, a cell's amount is its grants times that amount.
 * Grants tables are solved with integer variables, so that an equation such as
 * 1000a + 300b = 6500 is solved as the partner would; the members table is a two-way table of sums
 * (totally unimodular), whose linear bounds are already whole numbers.
 */
import highsPackage, { type Highs, type InitOptions } from 'highs';
import { setFlagsFromString } from 'node:v8';
import { TOTAL } from './suppression.js';


export interface AuditCell {
  row: string;
  col: string;
  /** The additive count: grants, or members in the members table. */
  count: number;
  /** Members earning (grants tables). */
  members?: number;
  /** Amount in cents (grants tables). */
  amount?: number;
}

export interface AuditInput {
  cells: readonly AuditCell[];
  /** Cells hidden whole. */
  hidden: readonly boolean[];
  /** Cells whose amount alone is hidden (a hidden cell's amount is hidden anyway). */
  amountHidden?: readonly boolean[];
  /** Row key -> cents per grant, for rows whose every grant has the same amount. */
  unitAmount?: ReadonlyMap<string, number>;
  /** Grants tables: integer variables, members and amounts modelled. */
  grants: boolean;
  /**
   * The width a hidden cell needs: cells that a quick argument already shows to be that wide are
   * reported with that witnessed range (at least minWidth) instead of solved for. 0: solve all.
   */
  minWidth?: number;
}

export type Quantity = 'count' | 'members';

export interface Interval {
  cell: number;
  quantity: Quantity;
  min: number;
  /** Infinity when nothing published bounds it. */
  max: number;
}

// The package is CommonJS with an ES-style default in its types: its module object is the loader.
const highsLoader = highsPackage as unknown as (options?: InitOptions) => Promise<Highs>;
type HighsSolver = Highs;
let solver: Promise<HighsSolver> | null = null;
/** The solver is a WebAssembly module, loaded once and only when a table has hidden cells. */
function highs(): Promise<HighsSolver> {
  // The problems here are tiny: V8's optimising tier would spend longer compiling the solver's large
  // module (and 80 MB) than the solves take. Set before the module is compiled; nothing else here
  // uses WebAssembly.
  if (!solver) setFlagsFromString('--liftoff-only');
  solver ??= highsLoader();
  return solver;
}

/** A linear expression: variable -> coefficient, plus a constant. */
class Expr {
  readonly terms = new Map<string, number>();
  constant = 0;
  add(v: string | number, coef = 1): this {
    if (typeof v === 'number') this.constant += coef * v;
    else this.terms.set(v, (this.terms.get(v) ?? 0) + coef);
    return this;
  }
  /** `expr <op> 0` as an LP-format constraint, or null when it has no variables. */
  constraint(name: string, op: '=' | '<='): string | null {
    const parts: string[] = [];
    for (const [v, c] of this.terms) if (c !== 0) parts.push(`${c < 0 ? '-' : '+'} ${Math.abs(c)} ${v}`);
    if (parts.length === 0) return null;
    return ` ${name}: ${parts.join(' ')} ${op} ${-this.constant}`;
  }
}

/** The interval of every hidden cell's count (and members, in grants tables). */
export async function auditIntervals(input: AuditInput): Promise<Interval[]> {
  const { cells, hidden, grants } = input;
  if (!hidden.some(Boolean)) return [];
  const amountHidden = (i: number) => hidden[i]! || (input.amountHidden?.[i] ?? false);

  const g = (i: number): string | number => (hidden[i] ? `g${i}` : cells[i]!.count);
  const m = (i: number): string | number => (hidden[i] ? `m${i}` : (cells[i]!.members ?? 0));
  const a = (i: number): string | number => (amountHidden(i) ? `a${i}` : (cells[i]!.amount ?? 0));

  const constraints: { text: string; vars: string[] }[] = [];
  const push = (e: Expr, op: '=' | '<=') => {
    const text = e.constraint(`c${constraints.length}`, op);
    if (text) constraints.push({ text, vars: [...e.terms.keys()] });
  };

  for (const line of linesWithTotals(cells)) {
    const sum = new Expr().add(g(line.total));
    for (const c of line.cells) sum.add(g(c), -1);
    push(sum, '=');
    if (!grants) continue;
    const amounts = new Expr().add(a(line.total));
    for (const c of line.cells) amounts.add(a(c), -1);
    push(amounts, '=');
    const atMost = new Expr().add(m(line.total));
    for (const c of line.cells) {
      atMost.add(m(c), -1);
      push(new Expr().add(m(c)).add(m(line.total), -1), '<=');
    }
    push(atMost, '<=');
  }
  if (grants) {
    cells.forEach((c, i) => {
      if (hidden[i]) push(new Expr().add(m(i)).add(g(i), -1), '<=');
      const unit = input.unitAmount?.get(c.row);
      if (unit !== undefined && amountHidden(i)) push(new Expr().add(a(i)).add(g(i), -unit), '=');
    });
  }

  // Variables linked by no constraint cannot inform each other: each connected group is its own problem.
  const parent = new Map<string, string>();
  const find = (v: string): string => {
    let r = v;
    while (parent.get(r) !== r) r = parent.get(r)!;
    parent.set(v, r);
    return r;
  };
  const vars: string[] = [];
  cells.forEach((_, i) => {
    if (hidden[i]) vars.push(`g${i}`, ...(grants ? [`m${i}`] : []));
    if (grants && amountHidden(i)) vars.push(`a${i}`);
  });
  for (const v of vars) parent.set(v, v);
  for (const c of constraints) for (const v of c.vars.slice(1)) parent.set(find(v), find(c.vars[0]!));

  const groups = new Map<string, { vars: string[]; constraints: string[] }>();
  for (const v of vars) {
    const r = find(v);
    if (!groups.has(r)) groups.set(r, { vars: [], constraints: [] });
    groups.get(r)!.vars.push(v);
  }
  for (const c of constraints) groups.get(find(c.vars[0]!))!.constraints.push(c.text);

  const proven = grants ? new Map<number, { min: number; max: number }>() : provenByCycles(cells, hidden, input.minWidth ?? 0);
  const h = await highs();
  const out: Interval[] = [];
  for (const group of groups.values()) {
    // A hidden cell is at least 1 (zeros are shown); a complement may be a zero total, which stays 0.
    const bounds = group.vars.map((v) => ` ${v} >= ${v.startsWith('a') || cells[Number(v.slice(1))]!.count === 0 ? 0 : 1}`).join('\n');
    const body = `Subject To\n${group.constraints.join('\n') || ' c_none: 0 ' + group.vars[0] + ' >= 0'}\nBounds\n${bounds}\n${grants ? `General\n ${group.vars.join(' ')}\n` : ''}End\n`;
    // One model per group, its objective changed for each cell and sense: the solver starts each
    // solve from the last one's basis, a fraction of a fresh solve.
    const model = h.createModel({ format: 'lp', data: `Minimize\n obj: ${group.vars.map((v) => `0 ${v}`).join(' + ')}\n${body}` });
    try {
      // Linear tables: each solve starts from the last one's basis with the primal simplex (a new
      // objective keeps the old vertex feasible), without presolve, which would rebuild the problem.
      if (grants) model.options.set({ output_flag: false });
      else model.options.set({ output_flag: false, presolve: 'off', solver: 'simplex', simplex_strategy: 4 });
      const cols = group.vars.length;
      const index = new Map<string, number>();
      for (let i = 0; i < cols; i++) index.set(model.getColName(i), i);
      const zeros = new Float64Array(cols);
      for (const v of group.vars) {
        if (v.startsWith('a')) continue;
        const safe = proven.get(Number(v.slice(1)));
        if (safe && v.startsWith('g')) {
          out.push({ cell: Number(v.slice(1)), quantity: 'count', ...safe });
          continue;
        }
        const col = index.get(v)!;
        const costs = zeros.slice();
        costs[col] = 1;
        model.changeColsCost({ kind: 'range', from: 0, to: cols - 1 }, costs);
        const lo = optimum(h, model, h.constants.objectiveSense.minimize);
        const hi = optimum(h, model, h.constants.objectiveSense.maximize);
        out.push({ cell: Number(v.slice(1)), quantity: v.startsWith('g') ? 'count' : 'members', min: lo, max: hi });
      }
    } finally {
      model.dispose();
    }
  }
  return out.sort((x, y) => x.cell - y.cell || (x.quantity < y.quantity ? -1 : 1));
}

function optimum(h: HighsSolver, model: ReturnType<HighsSolver['createModel']>, sense: Parameters<ReturnType<HighsSolver['createModel']>['changeObjectiveSense']>[0]): number {
  model.changeObjectiveSense(sense);
  let status = model.run().modelStatus;
  if (status === h.constants.modelStatus.unboundedOrInfeasible) {
    // Presolve may stop there; without it the solver tells which.
    const presolve = model.options.get('presolve');
    model.options.set({ presolve: 'off' });
    status = model.run().modelStatus;
    model.options.set({ presolve });
  }
  const max = sense === h.constants.objectiveSense.maximize;
  if (status === h.constants.modelStatus.unbounded) return max ? Infinity : -Infinity;
  // Published figures come from real data, so some value always fits them: anything else is a bug.
  if (status !== h.constants.modelStatus.optimal) throw new Error(`table audit: the solver found no optimum (status ${status})`);
  return Math.round(model.getObjectiveValue());
}

/**
 * Hidden cells of a table of sums that are provably at least `minWidth` wide without a solver, with
 * a range they can certainly take (a witness, within the exact one). Four hidden cells at the
 * corners of a rectangle, rows {r, r2} and columns {c, c2}, can all move by d at once without
 * changing any published sum, each in the direction its position gives: between two interior
 * columns (or rows) the signs alternate, between an interior one and the total they agree (a cell
 * and its total rise together). The cell can rise while the corners moving against it stay at least
 * 1, and fall while those moving with it (itself included) do. Cells not shown wide this way are
 * left to the solver.
 */
function provenByCycles(cells: readonly AuditCell[], hidden: readonly boolean[], minWidth: number): Map<number, { min: number; max: number }> {
  const out = new Map<number, { min: number; max: number }>();
  if (minWidth <= 0) return out;
  const at = new Map<string, number>();
  const byRow = new Map<string, number[]>();
  const byCol = new Map<string, number[]>();
  cells.forEach((c, i) => {
    if (!hidden[i]) return;
    at.set(`${c.row}\u0000${c.col}`, i);
    if (!byRow.has(c.row)) byRow.set(c.row, []);
    byRow.get(c.row)!.push(i);
    if (!byCol.has(c.col)) byCol.set(c.col, []);
    byCol.get(c.col)!.push(i);
  });
  const slack = (i: number) => cells[i]!.count - (cells[i]!.count > 0 ? 1 : 0);
  // +1 when a move along this side keeps its direction: exactly one end is the total.
  const along = (a: string, b: string) => ((a === TOTAL) !== (b === TOTAL) ? 1 : -1);
  for (const [, members] of byRow) {
    for (const i of members) {
      const c = cells[i]!;
      let best = -1;
      let range = { min: c.count, max: c.count };
      search: for (const j of members) {
        if (j === i) continue;
        const c2 = cells[j]!.col;
        for (const k of byCol.get(c.col)!) {
          if (k === i) continue;
          const r2 = cells[k]!.row;
          const l = at.get(`${r2}\u0000${c2}`);
          if (l === undefined) continue;
          const sj = along(c.col, c2);
          const sk = along(c.row, r2);
          const corners: [number, number][] = [
            [i, 1],
            [j, sj],
            [k, sk],
            [l, sj * sk],
          ];
          let up = Infinity;
          let down = Infinity;
          for (const [x, sign] of corners) {
            if (sign < 0) up = Math.min(up, slack(x));
            else down = Math.min(down, slack(x));
          }
          if (up + down > best) {
            best = up + down;
            range = { min: c.count - down, max: c.count + up };
            if (best >= minWidth) break search; // shown wide enough: no need for the widest
          }
        }
      }
      if (best >= minWidth) out.set(i, range);
    }
  }
  return out;
}

/** The rows and columns of a two-way table, each with its total cell (the one keyed TOTAL on the other axis). */
export function linesWithTotals(cells: readonly { row: string; col: string }[]): { total: number; cells: number[] }[] {
  const rows = new Map<string, { total: number; cells: number[] }>();
  const cols = new Map<string, { total: number; cells: number[] }>();
  cells.forEach((c, i) => {
    let r = rows.get(c.row);
    if (!r) rows.set(c.row, (r = { total: -1, cells: [] }));
    if (c.col === TOTAL) r.total = i;
    else r.cells.push(i);
    let k = cols.get(c.col);
    if (!k) cols.set(c.col, (k = { total: -1, cells: [] }));
    if (c.row === TOTAL) k.total = i;
    else k.cells.push(i);
  });
  return [...rows.values(), ...cols.values()].filter((l) => l.total >= 0);
}
