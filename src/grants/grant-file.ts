/** The grant file the reward-issuance system receives: its columns, lines and durable write. */
import { stringify } from 'csv-stringify/sync';
import { basename } from 'node:path';
import type { GrantRow } from '../store/runs.js';
import { writeFileDurable } from '../util/durable.js';

export const GRANT_COLUMNS = ['grant_id', 'run_id', 'campaign_id', 'rule_id', 'user_id', 'seq', 'reward_code', 'amount_cents', 'currency', 'earned_on'] as const;

/** The grant file's lines: a header, then one line per grant, built only from the database. */
export function* grantFileLines(rows: Iterable<GrantRow>): Generator<string> {
  yield stringify([GRANT_COLUMNS as unknown as string[]]);
  for (const g of rows) yield stringify([GRANT_COLUMNS.map((c) => g[c])]);
}

/**
 * Writes `<file>` and `<file>.sha256` (the format `sha256sum -c` reads), each durably (see
 * util/durable.ts), mode 0640: user ids are personal data. Rewriting with the same grants gives the
 * same bytes, so a repair after a crash is harmless even when the first write had in fact completed.
 */
export function writeGrantFile(file: string, rows: Iterable<GrantRow>): string {
  const { sha256 } = writeFileDurable(file, grantFileLines(rows));
  writeFileDurable(`${file}.sha256`, `${sha256}  ${basename(file)}\n`);
  return sha256;
}
