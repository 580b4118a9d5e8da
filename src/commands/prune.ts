/** `rewards prune`: flags, help, printing; retention itself is src/retention/prune.ts. */
import type { Command } from 'commander';
import { applyPrune, prunePlan } from '../retention/prune.js';
import { todayInZone } from '../time/datetime.js';
import { config, contextFrom, openStore, printJson, say, withLock } from './context.js';

export function register(program: Command): void {
  program
    .command('prune')
    .description('delete raw events and rejected rows past the retention settings (never what an open campaign needs)')
    .option('--dry-run', 'print what would be deleted; delete nothing')
    .addHelpText(
      'after',
      `
Config:
  "retention": { "events_days": 400, "rejects_days": 90 }

Events whose local date is older than events_days before today are deleted, except those inside the
window of a campaign that is not closed yet; rejected rows after rejects_days. Grants, runs, batches
and the daily rollup (daily_activity) are never pruned.

Examples:
  rewards prune --dry-run
  rewards prune --json`,
    )
    .action(async (flags: { dryRun?: boolean }, cmd: Command) => {
      const ctx = contextFrom(cmd);
      const cfg = await config(ctx, true);
      const now = Date.now();
      const plan = prunePlan(cfg.config, todayInZone(cfg.config.timezone, now), now);
      const db = openStore(ctx, { mustExist: true });
      try {
        const dryRun = flags.dryRun ?? false;
        const counts = dryRun ? applyPrune(db, plan, true) : await withLock(db, 'prune', () => applyPrune(db, plan, false));
        if (ctx.json) {
          printJson(ctx, { dry_run: dryRun, ...plan, deleted: counts });
          return;
        }
        const verb = dryRun ? 'would delete' : 'deleted';
        const ev = plan.events_before ? `events dated before ${plan.events_before}${plan.held_back_by ? ` (held back by open campaign ${plan.held_back_by})` : ''}` : 'no events (retention.events_days not set)';
        const rj = plan.rejects_before ? `rejected rows recorded before ${plan.rejects_before}` : 'no rejected rows (retention.rejects_days not set)';
        say(ctx, `${verb} ${counts.events} event(s): ${ev}`);
        say(ctx, `${verb} ${counts.rejects} rejected row(s): ${rj}`);
      } finally {
        db.close();
      }
    });
}
