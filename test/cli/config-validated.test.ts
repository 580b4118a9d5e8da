/**
 * The config is validated by every command, from the file as it is now: no cache of validated
 * configs (one planted in a shared cache folder once made an export skip consent and suppression,
 * and a stale one outlived an upgrade).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT, runCli, tempDir } from '../helpers.js';

describe('config', { timeout: 60_000 }, () => {
  it('is validated on every command and nothing is cached', async () => {
    const dir = tempDir('rewards-cfg-');
    const cache = join(dir, 'cache');
    const config = join(dir, 'rewards.config.json');
    const db = join(dir, 'r.db');
    const valid = readFileSync(join(PROJECT_ROOT, 'fixtures/demo/rewards.config.json'), 'utf8');
    writeFileSync(config, valid);
    const cli = (args: string[]) => runCli(['--db', db, '--config', config, ...args], { env: { XDG_CACHE_HOME: cache } });
    expect((await cli(['ingest', join(PROJECT_ROOT, 'fixtures/ingest/events.csv')])).code).toBe(0);
    const first = await cli(['report', '--as-of', '2026-03-31', '--format', 'json']);
    expect(first.code, first.stderr).toBe(0);
    expect(existsSync(cache)).toBe(false);

    writeFileSync(config, valid.replace('"days": 5', '"days": 0'));
    const broken = await cli(['report', '--as-of', '2026-03-31']);
    expect(broken.code).toBe(78);
    expect(broken.stderr).toMatch(/campaigns\[0\]\.rules\[1\]\.days: /);
    writeFileSync(config, valid);
    expect(await cli(['report', '--as-of', '2026-03-31', '--format', 'json'])).toEqual(first);
  });
});
