/** The progress bar: on a terminal only, and not with --quiet. Runs the CLI on a pty via script(1). */
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, cliEnv, runCli, tempDir } from '../helpers.js';
import { fixture } from '../ingest/expected.js';

const hasScript = spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0;
if (!hasScript) console.warn('[test/cli/ingest-progress.test.ts] skipped: script(1) from util-linux is needed to run the CLI on a terminal');

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Runs `node bin/rewards ARGS` with stdin/stdout/stderr on a pseudo-terminal; returns what the terminal showed. */
function onTerminal(args: string[]): Promise<{ code: number | null; screen: string }> {
  const cmd = [BIN, ...args].map(quote).join(' ');
  return new Promise((resolve, reject) => {
    // CI=... turns the bar off, as it should on CI logs: unset it here
    const child = spawn('script', ['-qec', cmd, '/dev/null'], { env: cliEnv({ CI: undefined }), stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => out.push(c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, screen: Buffer.concat(out).toString('utf8') }));
  });
}

describe.skipIf(!hasScript)('ingest: progress bar', { timeout: 60_000 }, () => {
  it('is drawn on stderr when it is a terminal, then cleared before the summary', async () => {
    const dir = tempDir();
    const r = await onTerminal(['--db', join(dir, 'r.db'), 'ingest', fixture('events.csv')]);
    expect(r.code).toBe(0);
    expect(r.screen).toMatch(/\r\x1b\[2K.*events\.csv \[#+-*\] +\d+%  5 rows  .* MiB\/.* MiB  [\d,]+ rows\/s\r\x1b\[2K/);
    expect(r.screen).toMatch(/events\.csv: ingested, batch 1: 5 rows, 5 inserted/);
  });

  it('is not drawn with --quiet, nor when stderr is not a terminal', async () => {
    const dir = tempDir();
    const quiet = await onTerminal(['--db', join(dir, 'q.db'), '--quiet', 'ingest', fixture('events.csv')]);
    expect(quiet.code).toBe(0);
    expect(quiet.screen).toBe('');
    const piped = await runCli(['--db', join(dir, 'p.db'), 'ingest', fixture('events.csv')], { env: { CI: undefined } });
    expect(piped.stderr).not.toMatch(/\x1b|rows\/s/);
  });
});
