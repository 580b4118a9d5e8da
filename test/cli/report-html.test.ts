/**
 * `rewards report --format html`, opened as a reader would: in a real browser (Debian's headless
 * Chromium, driven by puppeteer-core), which must render it without a console error or a single
 * request beyond the file, show every chart, and show the figures `report --json` gives.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'puppeteer-core';
import type { SeriesRow } from '../../src/views/report.js';
import { Workspace } from '../workspace.js';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p) => existsSync(p));
if (!CHROMIUM) console.warn('skipping the HTML report browser test: no Chromium (Debian: apt-get install chromium; .ci/run installs it)');

describe('report --format html', { timeout: 120_000 }, () => {
  const w = new Workspace({ demo: true, prefix: 'rewards-html-' });
  w.ok(['--quiet', 'nightly', '--as-of', '2026-03-31']);
  afterAll(() => w.cleanup());

  it('is one self-contained file: no script, no URL it could load, only aggregates', () => {
    const html = w.ok(['report', '--as-of', '2026-03-31', '--format', 'html']).stdout as string;
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).toContain(`content="default-src 'none'; style-src 'unsafe-inline'; img-src data:"`);
    expect(html).not.toMatch(/<script|<link|<img|<iframe|@import|url\(/i);
    // The only URLs are SVG's namespace names, which nothing fetches.
    expect([...new Set(html.match(/https?:\/\/[^"' )]+/g))].sort()).toEqual(['http://www.w3.org/1999/xlink', 'http://www.w3.org/2000/svg']);
    expect(html).not.toMatch(/m00\d\d/); // no member id
    const both = w.cli(['--json', 'report', '--format', 'html']);
    expect(both.code).toBe(64);
  });

  it('is the same file in any time zone of the machine, and prints nothing else', () => {
    // The dates are local dates of the config's zone: no zone of the machine may move a bar or a label by a day.
    const la = w.ok(['report', '--as-of', '2026-03-31', '--format', 'html'], { env: { TZ: 'America/Los_Angeles' } });
    const kiritimati = w.ok(['report', '--as-of', '2026-03-31', '--format', 'html'], { env: { TZ: 'Pacific/Kiritimati' } });
    expect(la.stdout).toBe(kiritimati.stdout);
    expect([la.stderr, kiritimati.stderr]).toEqual(['', '']);
  });

  it('--by week: the time charts per week, their bars the figures of report --by week --json', () => {
    const html = w.ok(['report', '--as-of', '2026-03-31', '--format', 'html', '--by', 'week']).stdout as string;
    expect(html).toContain('<figcaption>Grants per week, by rule</figcaption>');
    const { series } = w.ok(['--json', 'report', '--as-of', '2026-03-31', '--by', 'week']);
    const bars = [...html.matchAll(/aria-label="(week of: [^"]*)"/g)].map((m) => m[1]);
    const expected = series.map((s: SeriesRow) => `week of: ${s.period}; rule: ${s.rule_id}; grants: ${s.grants}; amount: ${(s.amount_cents / 100).toFixed(2)} USD`);
    // Twice: the grants chart and the amount chart.
    expect(bars.sort()).toEqual([...expected, ...expected].sort());
    expect(expected.slice(0, 2)).toEqual(['week of: 2026-03-02; rule: birth; grants: 6; amount: 150.00 USD', 'week of: 2026-03-02; rule: five-days; grants: 18; amount: 90.00 USD']);
  });

  describe.skipIf(!CHROMIUM)('in headless Chromium', () => {
    let browser: Browser;
    beforeAll(async () => {
      const { launch } = await import('puppeteer-core');
      // --no-sandbox: Chromium's sandbox refuses to start as root (CI runs as root); the page has no script to contain.
      browser = await launch({ executablePath: CHROMIUM!, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
    });
    afterAll(() => browser?.close());

    it('renders without console errors or requests, every chart drawn, and the numbers of report --json', async () => {
      const file = join(w.dir, 'report.html');
      writeFileSync(file, w.ok(['report', '--as-of', '2026-03-31', '--format', 'html']).stdout as string);
      const page = await browser.newPage();
      const problems: string[] = [];
      const requests: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warn') problems.push(`${m.type()}: ${m.text()}`);
      });
      page.on('pageerror', (e) => problems.push(`page error: ${String(e)}`));
      page.on('request', (r) => requests.push(r.url()));
      await page.goto(`file://${file}`, { waitUntil: 'load' });

      const charts = await page.$$eval('figure.chart', (figs) =>
        figs.map((f) => {
          const svg = f.querySelector('svg')!;
          const box = svg.getBoundingClientRect();
          return { title: f.querySelector('figcaption')!.textContent, width: Math.round(box.width) > 0, height: Math.round(box.height) > 0, marks: svg.querySelectorAll('path, rect').length > 10 };
        }),
      );
      expect(charts).toEqual(
        [
          'Grants per day, by rule',
          'Amount per day, by rule (USD)',
          'Budget left (USD, of 1200.00)',
          'Longest streak per member, five-days (5 days earn)',
          'From active to earned, by rule (members)',
        ].map((title) => ({ title, width: true, height: true, marks: true })),
      );

      const rows = await page.$$eval('#report tbody tr', (trs) =>
        trs.map((tr) => Object.fromEntries([...tr.querySelectorAll('td')].map((td) => [td.dataset.field!, JSON.parse(td.dataset.json!) as unknown]))),
      );
      const json = w.ok(['--json', 'report', '--as-of', '2026-03-31']);
      expect(rows).toEqual(json.rows);
      expect(rows.find((r) => r.rule_id === '(total)')).toMatchObject({ grants: 127, amount_cents: 97_700, budget_left_cents: 22_300 });
      // What the reader sees is the same figure, in dollars.
      expect(await page.$eval('#report tr.total td[data-field="amount_cents"]', (td) => td.textContent)).toBe('977.00');

      // The charts' marks, as the browser exposes them to a screen reader: their data.
      const described = (n: number, role: string) => page.$$eval(`figure.chart:nth-of-type(${n}) svg [aria-roledescription="${role}"]`, (els) => els.map((e) => e.getAttribute('aria-label')!));
      const marks = (n: number) =>
        page.$$eval(`figure.chart:nth-of-type(${n}) svg [aria-roledescription="bar"]`, (els) =>
          els.map((e) => Object.fromEntries(e.getAttribute('aria-label')!.split('; ').map((kv) => kv.split(': ') as [string, string]))),
        );
      // Every member with counted days once, by the longest run; 43 reached five days, as many as earned the streak.
      expect(await marks(4)).toEqual(
        [['1', '3'], ['2', '9'], ['3', '1'], ['4', '4'], ['5+', '43']].map(([l, m]) => ({ 'longest run of consecutive days': l, members: m })),
      );
      // The grants and amount charts: a bar per day and rule, the figures of report --by day --json.
      const { series } = w.ok(['--json', 'report', '--as-of', '2026-03-31', '--by', 'day']);
      const bars = series.map((s: SeriesRow) => `day: ${s.period}; rule: ${s.rule_id}; grants: ${s.grants}; amount: ${(s.amount_cents / 100).toFixed(2)} USD`);
      expect(bars[0]).toBe('day: 2026-03-02; rule: birth; grants: 1; amount: 25.00 USD');
      for (const n of [1, 2]) expect((await described(n, 'bar')).sort()).toEqual([...bars].sort());
      // The budget: full until the end of the first day with grants, then what the series says was left, to the as-of date.
      const steps = await described(3, 'point');
      expect(steps.slice(0, 3)).toEqual(['from 2026-03-01: 1200.00 USD', 'from 2026-03-03: 1175.00 USD', 'from 2026-03-05: 1150.00 USD']);
      expect(steps.slice(-2)).toEqual(['from 2026-04-01: 223.00 USD', 'from 2026-04-01: 223.00 USD']);
      expect(steps.slice(1, -1).map((t) => t.split(': ')[1])).toEqual([...new Map(series.map((s: SeriesRow) => [s.period, `${(s.budget_left_cents! / 100).toFixed(2)} USD`])).values()]);

      const five = json.rows.find((r: { rule_id: string }) => r.rule_id === 'five-days');
      expect([five.members_counted, five.members_earned]).toEqual([60, 43]);
      // The funnel: counted then earned, per rule, as the table says.
      const funnel = (await marks(5)).map((m) => `${m.rule} ${m.step} ${m.members}`).sort();
      const fromTable = json.rows
        .filter((r: { rule_id: string }) => r.rule_id !== '(total)')
        .flatMap((r: { rule_id: string; members_counted: number; members_earned: number }) => [`${r.rule_id} 1. counted (active) ${r.members_counted}`, `${r.rule_id} 2. earned ${r.members_earned}`])
        .sort();
      expect(funnel).toEqual(fromTable);
      expect(problems).toEqual([]);
      expect(requests).toEqual([`file://${file}`]);
      await page.close();
    });
  });
});
