import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
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
