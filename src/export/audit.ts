import highsPackage, { type Highs, type InitOptions } from 'highs';
import { setFlagsFromString } from 'node:v8';
import { TOTAL } from './suppression.js';

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

  const solve = await highs();
  const out: Interval[] = [];
  for (const group of groups.values()) {
    // A hidden cell is at least 1 (zeros are shown); a complement may be a zero total, which stays 0.
    const bounds = group.vars.map((v) => ` ${v} >= ${v.startsWith('a') || cells[Number(v.slice(1))]!.count === 0 ? 0 : 1}`).join('\n');
    const body = `Subject To\n${group.constraints.join('\n') || ' c_none: 0 ' + group.vars[0] + ' >= 0'}\nBounds\n${bounds}\n${grants ? `General\n ${group.vars.join(' ')}\n` : ''}End\n`;
    for (const v of group.vars) {
      if (v.startsWith('a')) continue;
      const lo = optimum(solve, `Minimize\n obj: ${v}\n${body}`);
      const hi = optimum(solve, `Maximize\n obj: ${v}\n${body}`);
      out.push({ cell: Number(v.slice(1)), quantity: v.startsWith('g') ? 'count' : 'members', min: lo, max: hi });
    }
  }
  return out.sort((x, y) => x.cell - y.cell || (x.quantity < y.quantity ? -1 : 1));
}

function optimum(solve: HighsSolver, lp: string): number {
  let r = solve.solve(lp, { output_flag: false });
  // Presolve may stop at "infeasible or unbounded"; without it the solver tells which.
  if (r.Status === 'Primal infeasible or unbounded') r = solve.solve(lp, { output_flag: false, presolve: 'off' });
  if (r.Status === 'Unbounded') return lp.startsWith('Maximize') ? Infinity : -Infinity;
  // Published figures come from real data, so some value always fits them: anything else is a bug.
  if (r.Status !== 'Optimal') throw new Error(`table audit: the solver found no optimum (${r.Status})`);
  return Math.round(r.ObjectiveValue);
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
