/**
 * `rewards report --format html`, opened as a reader would: in a real browser (Debian's headless
 * Chromium, driven by puppeteer-core), which must render it without a console error or a single
 * request beyond the file, show every chart, and show the figures `report --json` gives.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'puppeteer-core';
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
      const marks = (n: number) =>
        page.$$eval(`figure.chart:nth-of-type(${n}) svg [aria-roledescription="bar"]`, (els) =>
          els.map((e) => Object.fromEntries(e.getAttribute('aria-label')!.split('; ').map((kv) => kv.split(': ') as [string, string]))),
        );
      // Every member with counted days once, by the longest run; 43 reached five days, as many as earned the streak.
      expect(await marks(4)).toEqual(
        [['1', '3'], ['2', '9'], ['3', '1'], ['4', '4'], ['5+', '43']].map(([l, m]) => ({ 'longest run of consecutive days': l, members: m })),
      );
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
