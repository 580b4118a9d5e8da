/** `rewards validate` (issue 15): every problem at once, with line and column or the config path, and suggestions; no database. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEMO } from '../helpers.js';
import { Workspace } from '../workspace.js';

const ws = new Workspace({ prefix: 'rewards-validate-' });
afterAll(() => ws.cleanup());
const demo = readFileSync(join(DEMO, 'rewards.config.json'), 'utf8');

describe('rewards validate', () => {
  it('accepts the demo config without a database, and creates none', () => {
    const path = ws.writeConfig(JSON.parse(demo), join(ws.dir, 'ok.json'));
    const r = ws.cli(['--config', path, 'validate']);
    expect([r.code, r.stdout, r.stderr]).toEqual([0, '', `${path}: valid\n`]);
    expect(existsSync(ws.db)).toBe(false);
    expect(JSON.parse(ws.cli(['--config', path, '--json', 'validate']).stdout)).toEqual({ config: path, ok: true, problems: [], warnings: [] });
  });

  it('lists every schema problem with its path and a "did you mean"', () => {
    const c = JSON.parse(demo);
    c.timezone = 'America/New_Yrok';
    c.campaigns[0].rules[1].dayz = 5;
    c.partners[0].campaigns = ['spring-2062'];
    const path = ws.writeConfig(c, join(ws.dir, 'typos.json'));
    const r = ws.cli(['--config', path, 'validate']);
    expect(r.code).toBe(78);
    expect(r.stderr).toBe(
      [
        `rewards: ${path}: timezone: "America/New_Yrok" is not a known IANA time zone (e.g. America/New_York); did you mean "America/New_York"?`,
        `rewards: ${path}: campaigns[0].rules[1].dayz: unknown key "dayz"; did you mean "days"?`,
        `rewards: ${path}: partners[0].campaigns[0]: unknown campaign "spring-2062"; did you mean "spring-2026"?`,
        `${path}: 3 problem(s); fix them and run \`rewards validate\` again`,
        '',
      ].join('\n'),
    );
    const j = JSON.parse(ws.cli(['--config', path, '--json', 'validate']).stdout);
    expect(j.ok).toBe(false);
    expect(j.problems.map((p: { path: string; suggestion: string }) => [p.path, p.suggestion])).toEqual([
      ['timezone', 'America/New_York'],
      ['campaigns[0].rules[1].dayz', 'days'],
      ['partners[0].campaigns[0]', 'spring-2026'],
    ]);
  });

  it('gives JSON syntax errors with line and column, all of them', () => {
    const path = join(ws.dir, 'syntax.json');
    ws.writeConfig({}, path);
    const text = demo.replace('"budget_cents": 120000,', '"budget_cents": 120000').replace('"grace_days": 7,', "'grace_days': 7,");
    writeFileSync(path, text);
    const lines = text.split('\n');
    const quoteLine = lines.findIndex((l) => l.includes("'grace_days'")) + 1;
    const r = ws.cli(['--config', path, 'validate']);
    expect(r.code).toBe(78);
    const errs = r.stderr.split('\n').filter((l) => l.startsWith('rewards: '));
    expect(errs[0]).toBe(`rewards: ${path}:${quoteLine}:${lines[quoteLine - 1]!.indexOf("'") + 1}: not valid JSON: unexpected character`);
    expect(errs.length).toBeGreaterThanOrEqual(2);
    expect(errs.every((l) => new RegExp(`^rewards: ${path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:\\d+:\\d+: not valid JSON: `).test(l))).toBe(true);
  });
});
