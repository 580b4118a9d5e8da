/** `rewards rejects`: rejected rows and member field problems, as CSV or JSON. */
import type { Command } from 'commander';
import { stringify } from 'csv-stringify/sync';
import { NoInputError, UsageError } from '../errors.js';
import { getBatch, listRejects } from '../store/ingest.js';
import { contextFrom, openStore, printJson } from './context.js';

export function register(program: Command): void {
  program
    .command('rejects')
    .description('print rejected rows and member field problems with the reason, as CSV (batch_id,file,line,kind,field,reason,raw)')
    .option('--batch <N>', 'only the rows of batch N (see `rewards ingest` output or the batches table)')
    .addHelpText(
      'after',
      `
Examples:
  rewards rejects > rejects.csv
  rewards rejects --batch 3
  rewards rejects --json | jq '.rejects[].reason'

kind "row": the record was rejected (raw is the record as written); kind "field": a member's
optional field was invalid and stored empty (field names it, raw is its value).`,
    )
    .action((flags: { batch?: string }, cmd: Command) => {
      const ctx = contextFrom(cmd);
      let batch: number | undefined;
      if (flags.batch !== undefined) {
        batch = Number(flags.batch);
        if (!Number.isInteger(batch) || batch < 1) throw new UsageError(`--batch takes a batch number, not "${flags.batch}"`);
      }
      const db = openStore(ctx, { mustExist: true });
      try {
        if (batch !== undefined && !getBatch(db, batch)) {
          throw new NoInputError(`--batch ${batch}: no such batch in ${db.name}; \`rewards status --json\` and the ingest reports give batch numbers`);
        }
        if (ctx.json) {
          printJson(ctx, { rejects: [...listRejects(db, batch)] });
          return;
        }
        ctx.stdout.write(stringify([['batch_id', 'file', 'line', 'kind', 'field', 'reason', 'raw']]));
        for (const r of listRejects(db, batch)) ctx.stdout.write(stringify([[r.batch_id, r.file, r.line, r.kind, r.field, r.reason, r.raw]]));
      } finally {
        db.close();
      }
    });
}
