/** `rewards explain`: flags, help, printing; the view is src/views/explain.ts. */
import type { Command } from 'commander';
import { NoInputError } from '../errors.js';
import { memberKnown, membersLike } from '../store/members.js';
import { explainMember } from '../views/explain.js';
import { collect, config, contextFrom, openStore, printJson } from './context.js';
import { asOfOption, campaignOption } from './options.js';

export function register(program: Command): void {
  program
    .command('explain')
    .description("show a member's progress on every rule: counted days, streaks, grants, and why not earned")
    .requiredOption('--user <id>', 'the member (user_id)')
    .option('--campaign <id>', 'only this campaign (repeatable)', collect)
    .option('--as-of <date>', 'count up to this local date (default: yesterday in the config timezone)')
    .addHelpText(
      'after',
      `
Examples:
  rewards explain --user u-1042
  rewards explain --user u-1042 --campaign spring-2026 --as-of 2026-03-31
  rewards explain --user u-1042 --json | jq '.campaigns[].rules[] | {rule_id, not_earned}'`,
    )
    .action(async (flags: { user: string; campaign?: string[]; asOf?: string }, cmd: Command) => {
      const ctx = contextFrom(cmd);
      const cfg = await config(ctx, true);
      const asOf = asOfOption(flags.asOf, cfg.config);
      const campaignIds = campaignOption(flags.campaign, cfg);
      const db = openStore(ctx, { mustExist: true });
      try {
        if (!memberKnown(db, flags.user)) {
          const like = membersLike(db, flags.user);
          throw new NoInputError(
            `--user ${flags.user}: no such member in ${db.name} (no member record, event or grant)${like.length ? `; did you mean ${like.join(', ')}?` : '; ids are case-sensitive: check it against the members export'}`,
          );
        }
        const campaigns = explainMember(db, cfg.config, flags.user, campaignIds, asOf);
        if (ctx.json) {
          printJson(ctx, { user_id: flags.user, as_of: asOf, campaigns });
          return;
        }
        const out: string[] = [`member ${flags.user}, as of ${asOf}`];
        for (const c of campaigns) {
          out.push('', `${c.campaign_id} (${c.phase.replace('_', ' ')}${c.window ? `, counting ${c.window.from}..${c.window.to}` : ''}): ${c.eligibility}`);
          for (const r of c.rules) {
            const streak = r.longest_streak ? `, longest streak ${r.longest_streak.length} (${r.longest_streak.from}..${r.longest_streak.to}), current ${r.current_streak}` : '';
            const where = r.where
              ? ` where ${Object.entries(r.where).map(([k, v]) => `${k} ${Array.isArray(v) ? `in ${v.map((x) => JSON.stringify(x)).join(', ')}` : `= ${JSON.stringify(v)}`}`).join(' and ')}`
              : '';
            out.push(`  ${r.rule_id} [${r.type} ${r.event_type}${where}]: ${r.counted_dates} counted day(s), ${r.counted_events} event(s)${r.first_date ? ` from ${r.first_date} to ${r.last_date}` : ''}${streak}`);
            for (const e of r.earnings) {
              const where = {
                granted: `granted in run ${e.run_id}, ${e.file}`,
                pending: 'earned, not yet granted: the next run grants it',
                over_budget: 'earned, not granted: over budget',
                closed: 'earned, not granted: the campaign closed before a run granted it',
              }[e.status];
              out.push(`    #${e.seq} earned ${e.earned_on}  grant ${e.grant_id}  ${where}`);
            }
            if (r.not_earned) out.push(`    next: ${r.not_earned}`);
          }
        }
        ctx.stdout.write(out.join('\n') + '\n');
      } finally {
        db.close();
      }
    });
}
