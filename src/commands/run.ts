/** `rewards run`: flags, help, printing; the run itself is src/grants/run.ts. */
import type { Command } from 'commander';
import { applyRun, planRun, prepareRollups, runSummary } from '../grants/run.js';
import { collect, config, contextFrom, type Context, openStore, printJson, say, warn, withLock } from './context.js';
import { planCosts, type RuleCost } from '../views/cost.js';
import { dataWarnings } from '../views/data-warnings.js';
import { asOfOption, campaignOption } from './options.js';
import { grantId } from '../rules/campaign.js';

interface RunFlags {
  asOf?: string;
  campaign?: string[];
  dryRun?: boolean;
}

export function register(program: Command): void {
  program
    .command('run')
    .description('evaluate the campaigns as of a date and write a grant file of what members newly earned')
    .option('--as-of <date>', 'last local date to count (default: yesterday in the config timezone)')
    .option('--campaign <id>', 'only this campaign (repeatable)', collect)
    .option('--dry-run', 'compute the grants and print them; write nothing')
    .addHelpText(
      'after',
      `
Examples:
  rewards run                                  # as of yesterday
  rewards run --as-of 2026-03-31
  rewards run --dry-run --json | jq '.rows[] | select(.over_budget)'
  rewards run --dry-run --as-of 2026-03-31 > cost.txt     # per rule: already granted, new, over budget, total
  rewards --config candidate.json run --dry-run --as-of 2026-05-31   # cost a new campaign on real history

Each grant has a stable grant_id (campaign, rule, member, sequence); a rerun grants nothing twice.
The grant file is <paths.grants>/grants-<as-of>-<run_id>.csv with a .sha256 beside it.`,
    )
    .action(async (flags: RunFlags, cmd: Command) => {
      await runCommand(contextFrom(cmd), flags);
    });
}

export async function runCommand(ctx: Context, flags: RunFlags) {
  const cfg = await config(ctx, true);
  const asOf = asOfOption(flags.asOf, cfg.config);
  const ids = campaignOption(flags.campaign, cfg);
  // A dry run writes nothing, not even a new empty database.
  const db = openStore(ctx, { mustExist: flags.dryRun ?? false });
  try {
    if (flags.dryRun) {
      const plan = planRun(db, cfg.config, { asOf, campaignIds: ids, full: true });
      const summary = runSummary(plan);
      const all = plan.campaigns.flatMap((c) => [...c.granted.map((g) => ({ g, over: false })), ...c.overBudget.map((g) => ({ g, over: true }))]);
      const costs = planCosts(db, cfg.config, plan);
      for (const w of dataWarnings(db, cfg.config)) warn(ctx, w);
      if (ctx.json) {
        printJson(ctx, {
          run_id: null,
          as_of: asOf,
          dry_run: true,
          campaigns: summary,
          costs,
          grants: summary.reduce((n, c) => n + c.grants, 0),
          amount_cents: summary.reduce((n, c) => n + c.amount_cents, 0),
          file: null,
          rows: all.map(({ g, over }) => ({
            grant_id: grantId(g.campaign_id, g.rule_id, g.user_id, g.seq),
            campaign_id: g.campaign_id,
            rule_id: g.rule_id,
            user_id: g.user_id,
            seq: g.seq,
            reward_code: g.reward.code,
            amount_cents: g.reward.amount_cents,
            currency: g.reward.currency,
            earned_on: g.earned_on,
            over_budget: over,
          })),
        });
      } else {
        ctx.stdout.write(costTable(costs) + '\n');
        printSummary(ctx, asOf, summary, 'would grant');
      }
      return;
    }
    const grantsDir = cfg.resolvePath(cfg.config.paths.grants);
    const result = await withLock(db, 'run', () => {
      prepareRollups(db, cfg.config, { asOf, campaignIds: ids });
      const plan = planRun(db, cfg.config, { asOf, campaignIds: ids });
      return { plan, res: applyRun(db, plan, grantsDir) };
    });
    const summary = runSummary(result.plan);
    if (ctx.json) {
      printJson(ctx, {
        run_id: result.res.run_id,
        as_of: asOf,
        dry_run: false,
        campaigns: summary,
        grants: result.res.grants,
        amount_cents: result.res.amount_cents,
        file: result.res.file,
        new_run: result.res.recorded,
        repaired_files: result.res.repaired,
      });
      return;
    }
    for (const f of result.res.repaired) say(ctx, `repaired: wrote the missing grant file ${f}`);
    printSummary(ctx, asOf, summary, 'granted');
    say(ctx, result.res.recorded ? `run ${result.res.run_id}: ${result.res.file}` : `nothing new since run ${result.res.run_id} (${result.res.file})`);
  } finally {
    db.close();
  }
}

function printSummary(ctx: Context, asOf: string, summary: ReturnType<typeof runSummary>, verb: string): void {
  say(ctx, `as of ${asOf}:`);
  if (summary.length === 0) say(ctx, '  no campaigns configured');
  for (const c of summary) {
    if (c.phase !== 'open') {
      say(ctx, `  ${c.id}: ${c.phase === 'closed' ? 'closed' : 'not started'}`);
      continue;
    }
    const over = c.over_budget ? `, ${c.over_budget} over budget` : '';
    say(ctx, `  ${c.id}: ${verb} ${c.grants} (${money(c.amount_cents)})${over}`);
  }
}

/** The dry run's answer on stdout: per rule, already granted, new, over budget, total, with currency. */
function costTable(costs: RuleCost[]): string {
  const head = ['campaign', 'rule', 'currency', 'granted', 'amount', 'new', 'amount', 'over budget', 'amount', 'total', 'amount'];
  const cells = (a: { grants: number; amount_cents: number }) => [String(a.grants), money(a.amount_cents)];
  const rows = costs.map((c) => [c.campaign_id, c.rule_id, c.currency, ...cells(c.already_granted), ...cells(c.new), ...cells(c.over_budget), ...cells(c.total)]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((v, i) => (i < 3 ? v.padEnd(w[i]!) : v.padStart(w[i]!))).join('  ').trimEnd();
  return [line(head), ...rows.map(line)].join('\n');
}

export function money(cents: number): string {
  return `${(cents / 100).toFixed(2)}`;
}
