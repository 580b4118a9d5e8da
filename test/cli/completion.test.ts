/** `rewards completion bash|zsh` (issue 15): scripts generated from the program's own commands and options. */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, tempDir, removeTempDir } from '../helpers.js';

const dir = tempDir('rewards-completion-');
afterAll(() => removeTempDir(dir));

describe('rewards completion', () => {
  it('bash: a script bash accepts, completing commands and each command\'s options', async () => {
    const r = await runCli(['completion', 'bash']);
    expect(r.code, r.stderr).toBe(0);
    const script = join(dir, 'c.bash');
    writeFileSync(script, r.stdout);
    const complete = (words: string[]) =>
      spawnSync('bash', ['-c', `source "${script}"; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _rewards; echo "\${COMPREPLY[*]}"`], { encoding: 'utf8' }).stdout.trim();
    expect(complete(['rewards', 'exp'])).toBe('explain export');
    expect(complete(['rewards', 'explain', '--u'])).toBe('--user');
    expect(complete(['rewards', '--db', 'x.db', 'nightly', '--max'])).toBe('--max-catch-up');
  });

  it('zsh: a compdef script naming every command; another shell is 64', async () => {
    const z = await runCli(['completion', 'zsh']);
    expect(z.code).toBe(0);
    expect(z.stdout.split('\n')[0]).toBe('#compdef rewards');
    for (const c of ['ingest', 'run', 'explain', 'report', 'export', 'deliver', 'nightly', 'validate']) expect(z.stdout).toContain(`'${c}:`);
    const f = await runCli(['completion', 'fish']);
    expect([f.code, f.stderr]).toEqual([64, 'rewards: completion: the shell must be bash or zsh, not "fish"\n']);
  });
});
