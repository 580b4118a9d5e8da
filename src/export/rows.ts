import type { Db } from '../store/db.js';
import { iterateGrants } from '../store/export.js';
import { csvRecord } from './csv.js';
import type { GrantTally } from './summary.js';

/**
 * grants.csv's lines, each counted into the grants summary as it goes by: the rows come grouped by
 * member, which the tally's distinct-member counts rely on. Shared by the export's thread and its
 * helper thread (helper.ts), whichever writes the file.
 */
export function* grantLines(db: Db, campaignIds: readonly string[], asOf: string, periodLength: number, tally: GrantTally): Generator<string> {
  for (const r of iterateGrants(db, campaignIds, asOf, periodLength)) {
    tally.add(r[0], r[1], r[5], r[2], r[6], r[4]);
    yield csvRecord(r);
  }
}
