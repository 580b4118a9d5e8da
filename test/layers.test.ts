/**
 * The layers of src/ read top to bottom (test/layers.cjs): dependency-cruiser on the built dist/
 * finds every upward import and every cycle. It reads the JavaScript tsc wrote, so type-only imports
 * (erased there) are checked separately, from the sources.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from './helpers.js';

const require = createRequire(import.meta.url);
const LAYERS = (require('./layers.cjs') as { LAYERS: string[][] }).LAYERS;

describe('layers', () => {
  it('dist/ has no upward import and no cycle', () => {
    const r = spawnSync(process.execPath, [join(PROJECT_ROOT, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs'), '--config', 'test/layers.cjs', '--output-type', 'err', 'dist'], {
      cwd: PROJECT_ROOT,
      encoding: 'utf8',
    });
    expect(r.stdout + r.stderr).toContain('no dependency violations found');
    expect(r.status).toBe(0);
  });

  it('no type-only import points upward either', () => {
    const rank = new Map(LAYERS.flatMap((names, i) => names.map((n) => [n, i] as const)));
    const layerOf = (file: string) => relative(join(PROJECT_ROOT, 'src'), file).split('/')[0]!.replace(/\.ts$/, '');
    const bad: string[] = [];
    const walk = (dir: string) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name.endsWith('.ts')) {
          for (const m of readFileSync(p, 'utf8').matchAll(/^import type [^;]*? from '(\.[^']+)'/gms)) {
            const target = layerOf(join(dir, m[1]!));
            const from = layerOf(p);
            if ((rank.get(target) ?? -1) > (rank.get(from) ?? -1)) bad.push(`${relative(PROJECT_ROOT, p)} -> ${m[1]}`);
          }
        }
      }
    };
    walk(join(PROJECT_ROOT, 'src'));
    expect(bad).toEqual([]);
    // every folder and top-level module of src/ has a layer
    for (const e of readdirSync(join(PROJECT_ROOT, 'src'))) expect(rank.has(e.replace(/\.ts$/, '')), e).toBe(true);
  });
});
