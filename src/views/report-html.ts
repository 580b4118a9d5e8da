/**
 * `rewards report --format html`: one self-contained file. The charts are Vega-Lite specs rendered
 * to SVG here, in Node (Vega's headless renderer): the file has no script and loads nothing, and its
 * Content-Security-Policy forbids loading anything, so it opens the same offline, in a mail
 * attachment, or years later. Aggregates only: no member id is ever in it.
 */
import { addDays } from '../time/datetime.js';
import { escapeHtml as esc } from '../util/escape.js';
import type { ReportData, ReportRow } from './report.js';

export interface HtmlReport extends ReportData {
  generated_by: string;
}

const money = (cents: number | null) => (cents === null ? '-' : (cents / 100).toFixed(2));

/**
 * Vega's and Vega-Lite's warnings thrown, not printed: the specs are fixed by this file, so a warning
 * is a chart drawn other than meant, for the tests to catch; and a view never writes to the terminal.
 */
const strict = {
  level: () => 0,
  error: (...args: unknown[]): never => {
    throw new Error(`charts: ${args.map(String).join(' ')}`);
  },
  warn: (...args: unknown[]): never => strict.error(...args),
  info() {
    return this;
  },
  debug() {
    return this;
  },
};

/** A Vega-Lite spec rendered to an SVG string (no canvas: text is measured by estimate). */
async function svg(spec: Record<string, unknown>): Promise<string> {
  const [vega, vl] = await Promise.all([import('vega'), import('vega-lite')]);
  const compiled = vl.compile({ width: 560, height: 180, config: { font: 'sans-serif', view: { stroke: null } }, ...spec } as never, { logger: strict }).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', logger: strict });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

interface Chart {
  title: string;
  svg: string;
}

/** A local date as the instant the charts place it at: UTC midnight, shown in UTC, so no machine's zone moves a day. */
const at = (date: string) => Date.parse(`${date}T00:00:00Z`);

async function campaignCharts(campaign: string, r: HtmlReport): Promise<Chart[]> {
  const rows = r.rows.filter((x) => x.campaign_id === campaign);
  const total = rows.find((x) => x.rule_id === '(total)')!;
  const currency = total.currency;
  const series = r.series.filter((s) => s.campaign_id === campaign);
  const window = r.windows.find((w) => w.campaign_id === campaign);
  const charts: Chart[] = [];
  if (window && series.length) {
    // Each bar spans its day or week; the axis spans the counting window (weeks may start before it).
    const step = r.by === 'day' ? 1 : 7;
    const end = (period: string) => addDays(period, step);
    const domain = [Math.min(at(window.from), at(series[0]!.period)), Math.max(at(addDays(window.to, 1)), at(end(series[series.length - 1]!.period)))];
    const label = r.by === 'day' ? 'day' : 'week of';
    // UTC scale: labels the dates as they are, whatever the zone of the machine making the report.
    const x = { field: 'from', type: 'temporal', title: label, scale: { type: 'utc', domainMin: domain[0], domainMax: domain[1], padding: 0 }, axis: { format: '%b %d' } };
    // Each mark's accessible description (its aria-label) in plain figures, also what the test reads.
    const values = series.map((s) => ({
      from: at(s.period),
      to: at(end(s.period)),
      rule: s.rule_id,
      grants: s.grants,
      amount: s.amount_cents / 100,
      text: `${label}: ${s.period}; rule: ${s.rule_id}; grants: ${s.grants}; amount: ${money(s.amount_cents)} ${s.currency}`,
    }));
    const bars = (field: string, title: string) => ({
      data: { values },
      mark: { type: 'bar', orient: 'vertical', stroke: 'white', strokeWidth: 0.5 },
      encoding: { x, x2: { field: 'to' }, y: { field, type: 'quantitative', title, stack: true }, color: { field: 'rule', type: 'nominal' }, description: { field: 'text' } },
    });
    charts.push({ title: `Grants per ${r.by}, by rule`, svg: await svg(bars('grants', 'grants')) });
    charts.push({ title: `Amount per ${r.by}, by rule (${currency})`, svg: await svg(bars('amount', currency)) });
    // A step at the end of each period: the full budget (or nothing spent) until the first. The
    // campaign's cumulative figures repeat on each rule's row of a period: one point per period.
    const budget = total.budget_cents;
    const left = (s: (typeof series)[number]) => (budget === null ? s.campaign_cumulative_cents : s.budget_left_cents!);
    const byPeriod = [...new Map(series.map((s) => [s.period, s])).values()];
    const steps = [{ at: domain[0]!, cents: budget ?? 0 }, ...byPeriod.map((s) => ({ at: at(end(s.period)), cents: left(s) }))];
    steps.push({ at: domain[1]!, cents: steps[steps.length - 1]!.cents });
    charts.push({
      title: budget === null ? `Spend so far (${currency}; no budget)` : `Budget left (${currency}, of ${money(budget)})`,
      svg: await svg({
        data: { values: steps.map((p) => ({ at: p.at, value: p.cents / 100, text: `from ${new Date(p.at).toISOString().slice(0, 10)}: ${money(p.cents)} ${currency}` })) },
        mark: { type: 'line', interpolate: 'step-after', point: true },
        encoding: {
          x: { ...x, field: 'at', title: `${label}, at its start` },
          y: { field: 'value', type: 'quantitative', title: currency, scale: { zero: true } },
          description: { field: 'text' },
        },
      }),
    });
  }
  for (const st of r.streaks.filter((s) => s.campaign_id === campaign)) {
    const values = st.members.map((n, i) => ({ length: i + 1 === st.days ? `${st.days}+` : String(i + 1), members: n }));
    charts.push({
      title: `Longest streak per member, ${st.rule_id} (${st.days} days earn)`,
      svg: await svg({
        data: { values },
        mark: 'bar',
        encoding: {
          x: { field: 'length', type: 'ordinal', sort: null, title: 'longest run of consecutive days', axis: { labelAngle: 0 } },
          y: { field: 'members', type: 'quantitative', title: 'members' },
        },
      }),
    });
  }
  const funnel = rows.filter((x) => x.rule_id !== '(total)').flatMap((x) => [
    { rule: x.rule_id, step: '1. counted (active)', members: x.members_counted! },
    { rule: x.rule_id, step: '2. earned', members: x.members_earned },
  ]);
  charts.push({
    title: 'From active to earned, by rule (members)',
    svg: await svg({
      data: { values: funnel },
      mark: 'bar',
      encoding: {
        y: { field: 'rule', type: 'nominal', title: null },
        yOffset: { field: 'step', type: 'nominal' },
        x: { field: 'members', type: 'quantitative', title: 'members' },
        color: { field: 'step', type: 'nominal', title: null },
      },
    }),
  });
  return charts;
}

const COLUMNS: (keyof ReportRow)[] = ['campaign_id', 'phase', 'rule_id', 'members_counted', 'members_earned', 'grants', 'amount_cents', 'currency', 'budget_cents', 'budget_used_cents', 'budget_left_cents', 'over_budget'];
const MONEY = new Set<keyof ReportRow>(['amount_cents', 'budget_cents', 'budget_used_cents', 'budget_left_cents']);

/** The report's rows as a table; each cell carries its value as JSON (`data-json`), the figures a script or test reads. */
function table(rows: ReportRow[]): string {
  const head = COLUMNS.map((c) => `<th>${esc(MONEY.has(c) ? c.replace('_cents', '') : c)}</th>`).join('');
  const body = rows
    .map((r) => {
      const cells = COLUMNS.map((c) => {
        const v = r[c];
        const shown = MONEY.has(c) ? money(v as number | null) : v === null ? '-' : String(v);
        return `<td data-field="${c}" data-json="${esc(JSON.stringify(v))}"${typeof v === 'number' || v === null ? ' class="n"' : ''}>${esc(shown)}</td>`;
      }).join('');
      return `<tr${r.rule_id === '(total)' ? ' class="total"' : ''}>${cells}</tr>`;
    })
    .join('\n');
  return `<table id="report"><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

export async function reportHtml(r: HtmlReport): Promise<string> {
  const campaigns = [...new Set(r.rows.map((x) => x.campaign_id))];
  const sections: string[] = [];
  for (const c of campaigns) {
    const phase = r.rows.find((x) => x.campaign_id === c)!.phase.replace('_', ' ');
    const charts = await campaignCharts(c, r);
    sections.push(
      `<section class="campaign" data-campaign="${esc(c)}"><h2>${esc(c)} <small>${esc(phase)}</small></h2>\n` +
        charts.map((ch) => `<figure class="chart"><figcaption>${esc(ch.title)}</figcaption>${ch.svg}</figure>`).join('\n') +
        '</section>',
    );
  }
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>rewards report as of ${esc(r.as_of)}</title>
<style>
body { font-family: sans-serif; margin: 2rem; color: #222; }
table { border-collapse: collapse; font-size: 0.9rem; margin-bottom: 2rem; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.total td { font-weight: bold; }
figure.chart { display: inline-block; margin: 0 1.5rem 1.5rem 0; vertical-align: top; }
figcaption { font-weight: bold; margin-bottom: 0.3rem; }
h2 small { font-weight: normal; color: #666; }
</style>
</head>
<body>
<h1>rewards report</h1>
<p>As of ${esc(r.as_of)}: members counted have counted events in the campaign's window; members earned have at least one grant; amounts and budgets in each rule's currency. Generated by ${esc(r.generated_by)}.</p>
${table(r.rows)}
${sections.join('\n')}
</body>
</html>
`;
}
