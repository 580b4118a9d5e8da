/**
 * The export's CSV writer: each text cell neutralised against formula injection (a rule of the
 * export, which csv-stringify has no option for), then written in csv-stringify's dialect, which the
 * tests and partners' parsers pin: RFC 4180, `,` between cells, `\n` after every record, a cell
 * quoted only when it contains `"`, `,`, `\n` or `\r` (inner quotes doubled), numbers as JavaScript
 * prints them; test/export/fast-paths.test.ts compares the two. (Grant files, which no spreadsheet
 * opens, are written by csv-stringify itself: their codes must arrive exactly as configured.)
 */
import { neutraliseFormula } from './deidentify.js';


export type Cell = string | number;

/** The row-level files' columns. */
export const MEMBERS_HEADER = ['member', 'birth_year', 'zip3', 'state'] as const;
export const GRANTS_HEADER = ['member', 'campaign_id', 'rule_id', 'reward_code', 'amount_cents', 'currency', 'earned_period'] as const;
export const ACTIVITY_HEADER = ['member', 'campaign_id', 'period', 'event_type', 'active_days', 'events'] as const;

const NEEDS_QUOTES = /[",\n\r]/;
/** What neutraliseFormula prefixes, or what needs quotes: a cell that csvText changes. */
const NEEDS_ESCAPING = /^[=+\-@\t\r]|[",\n\r]/;

/** One text cell as it goes into a file: neutralised against formula injection, then quoted if needed. */
export function csvText(value: string): string {
  if (!NEEDS_ESCAPING.test(value)) return value;
  const v = neutraliseFormula(value);
  return NEEDS_QUOTES.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

/** One record, with its line end. Numbers are never neutralised: `-5` is a number, not a formula. */
export function csvRecord(cells: readonly Cell[]): string {
  let line = '';
  for (let i = 0; i < cells.length; i++) {
    const c = cells[i]!;
    if (i > 0) line += ',';
    line += typeof c === 'string' ? csvText(c) : String(c);
  }
  return line + '\n';
}
