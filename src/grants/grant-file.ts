import { stringify } from 'csv-stringify/sync';
import { accessSync, constants, mkdirSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { fsError } from '../errors.js';
import type { GrantRow } from '../store/rules.js';
import { writeFileAtomic, writeFileAtomicFrom } from '../util/atomic-file.js';

export const GRANT_COLUMNS = ['grant_id', 'run_id', 'campaign_id', 'rule_id', 'user_id', 'seq', 'reward_code', 'amount_cents', 'currency', 'earned_on'] as const;

/** The grant file's lines: a header, then one line per grant, built only from the database. */
export function* grantFileLines(rows: Iterable<GrantRow>): Generator<string> {
  yield stringify([GRANT_COLUMNS as unknown as string[]]);
  for (const g of rows) yield stringify([GRANT_COLUMNS.map((c) => g[c])]);
}

/**
 * Writes `<file>` and `<file>.sha256` (the format `sha256sum -c` reads), each to a temp name,
 * fsynced and renamed. Rewriting with the same grants gives the same bytes, so a repair after a
 * crash is harmless even when the first write had in fact completed.
 */
export function writeGrantFile(file: string, rows: Iterable<GrantRow>): string {
  // A folder that cannot be made or written to is a plain "cannot write" (73), named, before any temp file.
  try {
    mkdirSync(dirname(file), { recursive: true });
    accessSync(dirname(file), constants.W_OK | constants.X_OK);
  } catch (err) {
    throw fsError(err, file, 'write');
  }
  const sha = writeFileAtomicFrom(file, grantFileLines(rows));
  writeFileAtomic(`${file}.sha256`, `${sha}  ${basename(file)}\n`);
  return sha;
}
