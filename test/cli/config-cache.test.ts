/**
 * Validated configs are cached by their exact text ($XDG_CACHE_HOME/rewards): a hit must behave
 * exactly like a fresh validation, and a changed or broken config is never answered from the cache.
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT, runCli, tempDir } from '../helpers.js';

describe('config cache', { timeout: 60_000 }, () => {
  it('a hit gives the same result; an edited config is validated afresh (78 when broken)', async () => {
    const dir = tempDir('rewards-cfgcache-');
    const cache = join(dir, 'cache');
    const config = join(dir, 'rewards.config.json');
    const db = join(dir, 'r.db');
    const valid = readFileSync(join(PROJECT_ROOT, 'fixtures/demo/rewards.config.json'), 'utf8');
    writeFileSync(config, valid);
    const cli = (args: string[]) => runCli(['--db', db, '--config', config, ...args], { env: { XDG_CACHE_HOME: cache } });
    expect((await cli(['ingest', join(PROJECT_ROOT, 'fixtures/ingest/events.csv')])).code).toBe(0);

    const first = await cli(['report', '--as-of', '2026-03-31', '--format', 'json']);
    expect(first.code, first.stderr).toBe(0);
    const entries = readdirSync(join(cache, 'rewards'));
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatch(/^config-[0-9a-f]{64}\.json$/);
    // Private to the user: the cache holds the config, which names the partners' key variables.
    expect(statSync(join(cache, 'rewards')).mode & 0o777).toBe(0o700);
    expect(statSync(join(cache, 'rewards', entries[0]!)).mode & 0o777).toBe(0o600);
    const second = await cli(['report', '--as-of', '2026-03-31', '--format', 'json']);
    expect(second).toEqual(first);

    // One character changed: not a hit, and the error names the path as always.
    writeFileSync(config, valid.replace('"days": 5', '"days": 0'));
    const broken = await cli(['report', '--as-of', '2026-03-31']);
    expect(broken.code).toBe(78);
    expect(broken.stderr).toMatch(/campaigns\[0\]\.rules\[1\]\.days: /);
    expect(readdirSync(join(cache, 'rewards'))).toHaveLength(1); // failures are not cached

    // Back to the valid text: answered from the cache again, same output.
    writeFileSync(config, valid);
    expect(await cli(['report', '--as-of', '2026-03-31', '--format', 'json'])).toEqual(first);

    // An unusable cache folder only costs the validation.
    writeFileSync(join(dir, 'not-a-dir'), '');
    const noCache = await runCli(['--db', db, '--config', config, 'report', '--as-of', '2026-03-31', '--format', 'json'], { env: { XDG_CACHE_HOME: join(dir, 'not-a-dir') } });
    expect(noCache).toEqual(first);
  });
});
