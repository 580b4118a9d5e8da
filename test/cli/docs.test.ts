import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, PROJECT_ROOT } from '../helpers.js';

// Like sqlite-utils' test_docs: a command without help, examples or a README entry fails the build.
const ROOT = PROJECT_ROOT;
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

function rewards(...args: string[]) {
  const r = spawnSync(BIN, args, { encoding: 'utf8', cwd: ROOT, env: { ...process.env, REWARDS_DB: '/nonexistent/x.db' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const top = rewards('--help');
const commands = [...top.stdout.matchAll(/^ {2}([a-z]+)\b/gm)].map((m) => m[1]!).filter((c) => c !== 'help');

describe('documentation', () => {
  it('lists every command in --help', () => {
    expect(top.code).toBe(0);
    expect(commands).toEqual(expect.arrayContaining(['ingest', 'rejects', 'run', 'explain', 'report', 'export', 'keygen', 'nightly', 'prune', 'status']));
  });

  for (const cmd of commands) {
    it(`${cmd}: --help exits 0, shows the global options and examples`, () => {
      const r = rewards(cmd, '--help');
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`Usage: rewards ${cmd}`);
      expect(r.stdout).toContain('--db <path|url>');
      expect(r.stdout).toContain('--json');
      expect(r.stdout).toMatch(/Examples?:\n(?: {2}.*\n)*? {2}.*\brewards [a-z]/);
    });

    it(`${cmd}: has a row in the README's command table and a reference section`, () => {
      expect(README).toContain(`| \`rewards ${cmd}`);
      expect(README).toMatch(new RegExp(`^### .*\`rewards ${cmd}\``, 'm'));
    });
  }

  it('documents every exit code the errors module defines', () => {
    const errors = readFileSync(join(ROOT, 'src/errors.ts'), 'utf8');
    const codes = [...errors.matchAll(/: (\d+),/g)].map((m) => m[1]!).filter((c) => c !== '0');
    expect(codes).toEqual(['1', '64', '65', '66', '69', '73', '75', '78']);
    for (const c of codes) expect(README).toMatch(new RegExp(`^\\| ${c} \\|`, 'm'));
  });
});

describe('global behaviour', () => {
  it('an unknown command or option exits 64 with a hint', () => {
    const r = rewards('ingset');
    expect(r.code).toBe(64);
    expect(r.stderr).toContain('(Did you mean ingest?)');
    expect(rewards('run', '--bogus').code).toBe(64);
  });

  it('a read-only command on a missing database exits 66 naming it', () => {
    const r = rewards('rejects', '--db', '/nonexistent/rewards.db');
    expect(r.code).toBe(66);
    expect(r.stderr).toContain('/nonexistent/rewards.db');
    expect(r.stdout).toBe('');
  });

  it('--version prints the package version', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    expect(rewards('--version').stdout.trim()).toBe(pkg.version);
  });
});

/** The shell lines of the README's quick start that try the commands on the demo (after `npm start`). */
function quickStartLines(): string[] {
  const section = README.split(/^## Quick start$/m)[1]!.split(/^## /m)[0]!;
  const blocks = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
  const tryBlock = blocks.find((b) => b.includes('export REWARDS_DB='))!;
  return tryBlock.split('\n').filter((l) => l.trim() !== '');
}

describe('the README quick start', () => {
  it('runs as written on the demo, each line exiting 0', () => {
    // What `npm start` leaves: ./demo after a nightly; bin/ and fixtures/ as in the checkout.
    const dir = mkdtempSync(join(tmpdir(), 'rewards-quickstart-'));
    try {
      symlinkSync(join(ROOT, 'bin'), join(dir, 'bin'));
      symlinkSync(join(ROOT, 'fixtures'), join(dir, 'fixtures'));
      cpSync(join(ROOT, 'fixtures/demo'), join(dir, 'demo'), { recursive: true, filter: (s) => !s.endsWith('demo.env') });
      const lines = quickStartLines();
      expect(lines.length).toBeGreaterThanOrEqual(5);
      const missing = ['jq', 'sqlite3'].filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
      if (missing.length) console.warn(`README quick start: lines using ${missing.join(', ')} are skipped (not installed)`);
      const script = [
        'set -euo pipefail',
        'export REWARDS_DB=demo/rewards.db REWARDS_CONFIG=demo/rewards.config.json',
        'set -a && . fixtures/demo/demo.env && set +a',
        'bin/rewards nightly --as-of 2026-03-31 --quiet',
        ...lines.filter((l) => !missing.some((t) => new RegExp(`(^|\\| )${t} `).test(l))).map((l) => `echo "+ ${l.replace(/["$`\\]/g, '\\$&')}" >&2; ${l}`),
      ].join('\n');
      const r = spawnSync('bash', ['-c', script], { cwd: dir, encoding: 'utf8', env: { ...process.env, REWARDS_DB: undefined, REWARDS_CONFIG: undefined } });
      expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
      expect(r.stdout).toContain('member m0007, as of 2026-03-31');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
