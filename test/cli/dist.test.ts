import { spawnSync } from 'node:child_process';
import { cpSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT, sqliteValue, tempDir } from '../helpers.js';

describe('the build', () => {
  it('runs without src/: migrations ship in dist/', () => {
    const app = tempDir('rewards-dist-');
    for (const p of ['bin', 'dist', 'package.json']) cpSync(join(PROJECT_ROOT, p), join(app, p), { recursive: true });
    symlinkSync(join(PROJECT_ROOT, 'node_modules'), join(app, 'node_modules'));
    const r = spawnSync(join(app, 'bin/rewards'), ['--db', join(app, 'r.db'), '--json', 'ingest', join(PROJECT_ROOT, 'fixtures/ingest/events.csv')], { cwd: app, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(sqliteValue<number>(join(app, 'r.db'), 'PRAGMA user_version')).toBeGreaterThanOrEqual(10);
  });
});
