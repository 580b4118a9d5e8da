#!/usr/bin/env node
// CPU profile of one `rewards` command, summarised: where the time goes, by function and by module.
//
//   node test/bench/profile.mjs [--events N] [--format csv|ndjson] [--top K] [-- ARGS...]
//
// Without `-- ARGS`, profiles `ingest` of the benchmark's generated events (default 100k, CSV) into
// a fresh database under .bench/profile/. With `-- ARGS`, profiles `rewards ARGS` as given (run from
// the project root). Needs a build (dist/). Prints self time by function, inclusive time of the
// heaviest frames, and self time grouped by module (src file, package, node internals, GC, native).
// The raw .cpuprofile stays in .bench/profile/ (open it in Chrome DevTools > Performance).

import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureData } from './generate.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '../..');
const OUT = join(ROOT, '.bench/profile');

function parseArgs(argv) {
  const o = { events: 100_000, format: 'csv', top: 25, args: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      o.args = argv.slice(i + 1);
      break;
    } else if (a === '--events') o.events = Number(argv[++i]);
    else if (a === '--format') o.format = argv[++i];
    else if (a === '--top') o.top = Number(argv[++i]);
    else throw new Error(`unknown argument ${a}`);
  }
  return o;
}

/** Which bucket a frame's self time belongs to. */
function moduleOf(cf) {
  const url = cf.url || '';
  if (cf.functionName === '(garbage collector)') return 'GC';
  if (cf.functionName === '(program)' || cf.functionName === '(idle)') return cf.functionName;
  if (!url) return 'native / V8 builtins (incl. better-sqlite3 calls)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return `pkg ${nm[1]}`;
  if (url.startsWith('node:')) return 'node internals';
  const d = /\/dist\/(.+)$/.exec(url);
  if (d) return `dist/${d[1]}`;
  return url.replace(/^file:\/\//, '');
}

export function summarise(profile, top = 25) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const dtMs = (profile.endTime - profile.startTime) / 1000 / profile.samples.length;
  const counts = new Map();
  for (const s of profile.samples) counts.set(s, (counts.get(s) ?? 0) + 1);
  // Line numbers are those of the compiled dist/*.js (the source maps are not applied).
  const key = (cf) => `${cf.functionName || '(anonymous)'}  ${moduleOf(cf)}:${cf.lineNumber + 1}`;
  const self = new Map();
  const mods = new Map();
  const incl = new Map();
  for (const [id, c] of counts) {
    const cf = byId.get(id).callFrame;
    self.set(key(cf), (self.get(key(cf)) ?? 0) + c);
    mods.set(moduleOf(cf), (mods.get(moduleOf(cf)) ?? 0) + c);
    const seen = new Set();
    for (let n = id; n !== undefined; n = parent.get(n)) {
      const k = key(byId.get(n).callFrame);
      if (seen.has(k)) continue;
      seen.add(k);
      incl.set(k, (incl.get(k) ?? 0) + c);
    }
  }
  const total = profile.samples.length;
  const fmt = (entries, n) =>
    [...entries]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, c]) => `${(c * dtMs).toFixed(0).padStart(8)} ms ${((100 * c) / total).toFixed(1).padStart(5)}%  ${k}`)
      .join('\n');
  const skip = /^\((root|program|idle)\)|^processTicksAndRejections|^runMicrotasks|^\(anonymous\)  node internals/;
  return [
    `total ${(total * dtMs).toFixed(0)} ms sampled`,
    '',
    'self time by module:',
    fmt(mods, 40),
    '',
    `self time by function (top ${top}):`,
    fmt(self, top),
    '',
    `inclusive time (top ${top}):`,
    fmt([...incl].filter(([k]) => !skip.test(k)), top),
  ].join('\n');
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });
  let args = o.args;
  if (!args) {
    const data = ensureData({ events: o.events, members: Math.max(10, Math.round(o.events / 10)), days: 90 }, { log: (m) => process.stderr.write(`generate: ${m}\n`) });
    const file = join(data.dir, o.format === 'ndjson' ? 'events.ndjson' : 'events.csv');
    args = ['--db', join(OUT, 'profile.db'), '--config', join(HERE, 'bench.config.json'), 'ingest', file, '--quiet', '--json', '--max-reject-rate', '1'];
  }
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['--cpu-prof', '--cpu-prof-dir', OUT, '--cpu-prof-interval', '500', join(ROOT, 'dist/main.js'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  const secs = (performance.now() - t0) / 1000;
  process.stdout.write(`rewards ${args.join(' ')}\nexit ${r.status}, ${secs.toFixed(2)} s wall (profiling overhead included)\n`);
  if (r.status !== 0) process.stdout.write(r.stderr.slice(0, 2000));
  const f = readdirSync(OUT).find((x) => x.endsWith('.cpuprofile'));
  if (!f) throw new Error('no .cpuprofile written');
  process.stdout.write(summarise(JSON.parse(readFileSync(join(OUT, f), 'utf8')), o.top) + '\n');
  process.stdout.write(`\nraw profile: ${join(OUT, f)}\n`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
