/** `rewards report`: flags, formats (table, CSV, JSON, HTML); the views are src/views/report.ts and report-html.ts. */
import type { Command } from 'commander';
import { stringify } from 'csv-stringify/sync';
import { UsageError } from '../errors.js';
import { campaignReport, campaignSeries, reportData, type ReportRow, type SeriesRow } from '../views/report.js';
import { reportHtml } from '../views/report-html.js';
import { VERSION } from '../version.js';
import { collect, config, contextFrom, openStore, printJson } from './context.js';
import { asOfOption, campaignOption } from './options.js';

const COLUMNS: (keyof ReportRow)[] = [
  'campaign_id',
  'phase',
  'rule_id',
  'members_counted',
  'members_earned',
  'grants',
  'amount_cents',
  'currency',
  'budget_cents',
  'budget_used_cents',
  'budget_left_cents',
  'over_budget',
];

export function register(program: Command): void {
  program
    .command('report')
    .description('per campaign and rule: members taking part, members who earned, grants, amount, budget used and left')
    .option('--campaign <id>', 'only this campaign (repeatable)', collect)
    .option('--as-of <date>', 'report up to this local date (default: yesterday in the config timezone)')
    .option('--format <format>', 'table, csv, json, or html (one self-contained file with charts)', 'table')
    .option('--by <period>', 'a series instead: per day or week (day, week), each rule\'s grants and the campaign\'s spend so far')
    .addHelpText(
      'after',
      `
Examples:
  rewards report
  rewards report --campaign spring-2026 --as-of 2026-05-31 --format csv > spring.csv
  rewards report --json
  rewards report --by week --format csv > weekly.csv       # grants per rule per week, and the budget burn-up
  rewards report --format html > report.html               # charts: grants over time, budget, streak lengths, active to earned`,
    )
    .action(async (flags: { campaign?: string[]; asOf?: string; format: string; by?: string }, cmd: Command) => {
      const ctx = contextFrom(cmd);
      if (ctx.json && flags.format !== 'table' && flags.format !== 'json') {
        throw new UsageError(`--json and --format ${flags.format} ask for two outputs; give one of them`);
      }
      const format = ctx.json ? 'json' : flags.format;
      if (!['table', 'csv', 'json', 'html'].includes(format)) throw new UsageError(`--format must be table, csv, json or html, not "${flags.format}"`);
      const cfg = await config(ctx, true);
      const asOf = asOfOption(flags.asOf, cfg.config);
      const campaignIds = campaignOption(flags.campaign, cfg);
      if (flags.by !== undefined && flags.by !== 'day' && flags.by !== 'week') throw new UsageError(`--by takes day or week, not "${flags.by}"`);
      const db = openStore(ctx, { mustExist: true });
      try {
        if (format === 'html') {
          // The page always has the time series: per day unless --by week.
          const html = await reportHtml({ ...reportData(db, cfg.config, campaignIds, asOf, flags.by === 'week' ? 'week' : 'day'), generated_by: `rewards ${VERSION}` });
          ctx.stdout.write(html);
          return;
        }
        if (flags.by) {
          const series = campaignSeries(db, cfg.config, campaignIds, asOf, flags.by);
          if (format === 'json') printJson(ctx, { as_of: asOf, by: flags.by, series });
          else if (format === 'csv') ctx.stdout.write(stringify(series, { header: true, columns: SERIES_COLUMNS as string[] }));
          else ctx.stdout.write(seriesTable(series, flags.by));
          return;
        }
        const rows = campaignReport(db, cfg.config, campaignIds, asOf);
        if (format === 'json') printJson(ctx, { as_of: asOf, rows });
        else if (format === 'csv') ctx.stdout.write(stringify(rows, { header: true, columns: COLUMNS as string[], cast: { boolean: String } }));
        else ctx.stdout.write(table(rows, asOf));
      } finally {
        db.close();
      }
    });
}

const SERIES_COLUMNS: (keyof SeriesRow)[] = ['campaign_id', 'period', 'rule_id', 'grants', 'amount_cents', 'currency', 'campaign_cumulative_cents', 'budget_left_cents'];

function seriesTable(rows: SeriesRow[], by: 'day' | 'week'): string {
  const head = ['campaign', by === 'day' ? 'day' : 'week of', 'rule', 'grants', 'amount', 'currency', 'campaign so far', 'budget left'];
  const body = rows.map((r) => [r.campaign_id, r.period, r.rule_id, String(r.grants), dollars(r.amount_cents), r.currency, dollars(r.campaign_cumulative_cents), dollars(r.budget_left_cents)]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(head), ...body.map(line)].join('\n') + '\n';
}

function dollars(cents: number | null): string {
  return cents === null ? '-' : (cents / 100).toFixed(2);
}

function table(rows: ReportRow[], asOf: string): string {
  const head = ['campaign', 'phase', 'rule', 'counted', 'earned', 'grants', 'amount', 'currency', 'budget', 'used', 'left', 'over budget'];
  const body = rows.map((r) => [
    r.campaign_id,
    r.phase.replace('_', ' '),
    r.rule_id,
    r.members_counted === null ? '-' : String(r.members_counted),
    String(r.members_earned),
    String(r.grants),
    dollars(r.amount_cents),
    r.currency,
    dollars(r.budget_cents),
    dollars(r.budget_used_cents),
    dollars(r.budget_left_cents),
    String(r.over_budget),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [`as of ${asOf} (members counted: with counted events; earned: with at least one grant)`, line(head), ...body.map(line)].join('\n') + '\n';
}
