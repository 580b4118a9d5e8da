#!/usr/bin/env node
// The benchmark behind `npm run bench` (issue 2 "Benchmark", issue 3 "Performance", issue 4 "Benchmark").
//
//   npm run bench                              # build, then everything below at 100k and 1M events
//   node test/bench/bench.mjs [--sizes 100000,1000000] [--repeat N] [--no-ref] [--only ingest]
//                             [--engines sqlite,pg] [--pg postgres://user@host/db] [--check] [--regenerate]
//
// For each size N (members N/10, 90 days from 2026-03-01; generated once by generate.mjs into
// .bench/data/, reused while the parameters and generator version are the same):
//   1. ingest events.csv and events.ndjson, each into a fresh on-disk database, by running
//      `bin/rewards --db X --config C ingest FILE --quiet --json --max-reject-rate 1` as a child
//      process; wall time (spawn to exit) and peak RSS (`/usr/bin/time -f %M`, else VmHWM of
//      /proc/<pid>/status polled every 20 ms);
//   2. the reference: `sqlite3` (the CLI) `.import --skip 1` of the same CSV into a table with the same
//      six columns and a UNIQUE event_id, same pragmas as the tool (WAL, synchronous=NORMAL), timed
//      the same way in the same run; skipped with a message when sqlite3 is not installed;
//      steps 1 and 2 run in --repeat rounds (default 3: sqlite3, CSV, NDJSON, sqlite3, ...), and
//      each keeps its median run;
//   3. members.csv into the CSV database, then the later benchmarks (extension points below), each
//      run only when `bin/rewards --help` lists the command, else reported as skipped:
//      a full `rewards run` (issue 3), one more day of events + an incremental run, and
//      `rewards export --partner acme` (issue 4; 5 runs, the median kept).
//   4. PostgreSQL (issue 14), when a server is available (--pg URL, else a throwaway cluster when
//      the binaries are installed; test/bench/postgres.mjs): `psql \copy` of the same CSV into a
//      staging table and INSERT ... ON CONFLICT DO NOTHING into a table with the same six columns
//      and a UNIQUE event_id (PostgreSQL 15's COPY stops at the first duplicate), beside
//      `rewards --db postgres://... ingest` in rounds; then members, full and incremental run, export.
// Prints a table and the targets; writes the figures to .bench/results/latest.json.
// `--check` exits 1 when a measured target is missed (not the default: figures vary by machine).

import { spawn, spawnSync } from 'node:child_process';
import { closeSync, cpSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { addDays, ensureData } from './generate.mjs';
import { startPostgres } from './postgres.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '../..');
const BIN = join(ROOT, 'bin/rewards');
const WORK = join(ROOT, '.bench');
const RUN_DIR = join(WORK, 'run');
const RESULTS_DIR = join(WORK, 'results');
// A fixed, obviously fake partner key for the export benchmark (issue 4 wants >= 32 characters).
// A key in `rewards keygen`'s format, for the benchmark only (not a secret).
const BENCH_KEY = 'HRJ9gMgttiSiSHiO7KMNI+yWzRrFiySgOy9Lk1TI8hw=';

const TARGETS = {
  csvVsSqlite: 0.5, // CSV ingest rows/s >= 0.5 x sqlite3 .import rows/s
  peakRssMB: 150, // every ingest
  flatRss: 1.15, // peak RSS at the largest size <= 1.15 x peak at the smallest (and still < 150 MB)
  fullRunS: 5, // issue 3
  incrementalShare: 0.2, // incremental run < 1/5 of the full run
  exportRowsPerS: 100_000, // issues 11 and 12: the export with its privacy audit and node:crypto's HMAC
};

// ---------------------------------------------------------------------------------------------
// Arguments

function parseArgs(argv) {
  const o = { sizes: [100_000, 1_000_000], repeat: 3, ref: true, only: null, check: false, regenerate: false, engines: ['sqlite', 'pg'], pg: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--sizes') o.sizes = val().split(',').map((s) => Number(s.replace(/_/g, '').replace(/k$/i, '000').replace(/m$/i, '000000')));
    else if (a === '--repeat') o.repeat = Number(val());
    else if (a === '--no-ref') o.ref = false;
    else if (a === '--only') o.only = val();
    else if (a === '--check') o.check = true;
    else if (a === '--regenerate') o.regenerate = true;
    else if (a === '--engines') o.engines = val().split(',');
    else if (a === '--pg') o.pg = val();
    else if (a === '--help' || a === '-h') o.help = true;
    else throw new Error(`unknown argument ${a}`);
  }
  if (o.sizes.some((n) => !Number.isInteger(n) || n < 10)) throw new Error('--sizes takes event counts, e.g. 100000,1000000 or 100k,1m');
  if (!Number.isInteger(o.repeat) || o.repeat < 1) throw new Error('--repeat takes a positive integer');
  if (o.only && !['ingest', 'run', 'export'].includes(o.only)) throw new Error('--only takes ingest, run or export');
  if (o.engines.some((e) => e !== 'sqlite' && e !== 'pg')) throw new Error('--engines takes sqlite, pg or both');
  o.sizes.sort((a, b) => a - b);
  return o;
}

// ---------------------------------------------------------------------------------------------
// Measuring a child process: wall time and peak RSS

const HAVE_TIME = (() => {
  if (!existsSync('/usr/bin/time')) return false;
  const r = spawnSync('/usr/bin/time', ['-f', '%M', 'true'], { encoding: 'utf8' });
  return r.status === 0 && /^\d+\s*$/m.test(r.stderr);
})();

function haveCommand(cmd, args = ['--version']) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return r.error ? null : (r.stdout || r.stderr).trim();
}

/** VmHWM (peak resident set) of a live process in KiB, or 0 when it is gone. */
function readHwm(pid) {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** User + system CPU seconds of a live process (clock ticks of 1/100 s), or 0 when it is gone. */
function readCpu(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}

/**
 * Runs `cmd args` to completion, stdout/stderr to files in `dir` (named `name`), stdin from
 * `stdinFile` if given. Returns exit code, wall seconds and peak RSS in MiB.
 */
async function measure(name, cmd, args, { dir, env, stdinFile } = {}) {
  mkdirSync(dir, { recursive: true });
  const outPath = join(dir, `${name}.stdout`);
  const errPath = join(dir, `${name}.stderr`);
  const rssPath = join(dir, `${name}.rss`);
  const out = openSync(outPath, 'w');
  const err = openSync(errPath, 'w');
  const inp = stdinFile ? openSync(stdinFile, 'r') : 'ignore';
  const [file, argv] = HAVE_TIME ? ['/usr/bin/time', ['-o', rssPath, '-f', '%M %U %S', cmd, ...args]] : [cmd, args];
  const t0 = performance.now();
  const child = spawn(file, argv, { cwd: dir, env, stdio: [inp, out, err] });
  let polled = 0;
  let cpu = 0;
  const timer = HAVE_TIME
    ? null
    : setInterval(() => {
        polled = Math.max(polled, readHwm(child.pid));
        cpu = Math.max(cpu, readCpu(child.pid));
      }, 20);
  const code = await new Promise((res, rej) => {
    child.on('error', rej);
    child.on('exit', (c, sig) => res(c ?? (sig ? 128 : 1)));
  });
  const seconds = (performance.now() - t0) / 1000;
  if (timer) clearInterval(timer);
  for (const fd of [out, err]) closeSync(fd);
  if (typeof inp === 'number') closeSync(inp);
  let rssKiB = polled;
  if (HAVE_TIME) {
    // "Command exited with non-zero status N" may come first; the figures are on the last line.
    const m = /(\d+) ([\d.]+) ([\d.]+)\s*$/.exec(readFileSync(rssPath, 'utf8').trim());
    rssKiB = m ? Number(m[1]) : 0;
    cpu = m ? Number(m[2]) + Number(m[3]) : 0;
  }
  return {
    code,
    seconds,
    cpuSeconds: cpu,
    rssMB: rssKiB / 1024,
    stdout: readFileSync(outPath, 'utf8'),
    stderrPath: errPath,
    stderrHead: readFileSync(errPath, 'utf8').slice(0, 2000),
  };
}

function freshDb(path) {
  for (const s of ['', '-wal', '-shm', '-journal']) rmSync(path + s, { force: true });
  return path;
}

function childEnv(extra = {}) {
  const env = { ...process.env, ...extra };
  // The bench decides the database and config; a user's defaults must not leak in.
  delete env.REWARDS_DB;
  delete env.REWARDS_CONFIG;
  delete env.REWARDS_DEBUG;
  return env;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)];
}

/** Of several runs of one thing, the run with the median wall time, with all of them listed. */
function medianRun(runs) {
  const m = median(runs.map((r) => r.seconds));
  return { ...runs.find((r) => r.seconds === m), runs: runs.map((r) => ({ seconds: r.seconds, cpuSeconds: r.cpuSeconds, rssMB: r.rssMB })) };
}

/**
 * Runs each of `fns` `repeat` times, in rounds (a, b, c, a, b, c, ...), and keeps each one's median
 * run. In rounds rather than one after the other: this VM's speed drifts by 10% over a minute or
 * two, and the figures compared with each other (CSV vs NDJSON vs sqlite3) should see the same drift.
 */
async function inRounds(repeat, fns) {
  const runs = fns.map(() => []);
  for (let i = 0; i < repeat; i++) for (const [k, fn] of fns.entries()) runs[k].push(await fn(i));
  return runs.map(medianRun);
}

function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// Ingest and the sqlite3 reference

async function ingest(ctx, label, file, db, { kind = 'events' } = {}) {
  const args = ['--db', db, '--config', ctx.config, 'ingest', file, '--quiet', '--json', '--max-reject-rate', '1'];
  if (kind !== 'events') args.push('--kind', kind);
  const r = await measure(label, BIN, args, { dir: ctx.dir, env: childEnv() });
  const report = parseJson(r.stdout);
  return { ...r, report, totals: report?.totals ?? null };
}

async function sqliteImport(ctx, label, csv) {
  const db = freshDb(join(ctx.dir, `${label}.db`));
  const script = join(ctx.dir, `${label}.sql`);
  // Same columns as the export, UNIQUE event_id like the events table; the tool's pragmas.
  writeFileSync(
    script,
    [
      'PRAGMA journal_mode=WAL;',
      'PRAGMA synchronous=NORMAL;',
      'CREATE TABLE events_ref (event_id TEXT NOT NULL UNIQUE, user_id TEXT, event_type TEXT, occurred_at TEXT, timezone TEXT, properties TEXT);',
      '.mode csv',
      `.import --skip 1 '${csv.replace(/'/g, "''")}' events_ref`,
      '.mode list',
      'SELECT count(*) FROM events_ref;',
      '',
    ].join('\n'),
  );
  const r = await measure(label, 'sqlite3', [db], { dir: ctx.dir, env: childEnv(), stdinFile: script });
  const lines = r.stdout.trim().split('\n');
  const imported = Number(lines[lines.length - 1]);
  // .import reports each row it could not insert (duplicate ids, including the empty ones) on stderr,
  // and the shell then exits 1: success is the final count being printed.
  const stderr = readFileSync(r.stderrPath, 'utf8');
  const failed = (stderr.match(/INSERT failed/g) ?? []).length;
  const ok = Number.isInteger(imported) && imported > 0;
  const other = stderr.split('\n').filter((l) => l && !l.includes('INSERT failed'));
  return { ...r, code: ok ? 0 : r.code || 1, stderrHead: other.join('\n').slice(0, 2000), imported, failed };
}

/** The PostgreSQL reference: psql \copy of the CSV, then the rows with a new event_id into a UNIQUE table. */
async function psqlCopy(ctx, pg, label, csv) {
  const url = pg.fresh(label);
  const script = join(ctx.dir, `${label}.sql`);
  mkdirSync(ctx.dir, { recursive: true });
  writeFileSync(
    script,
    [
      'CREATE TABLE events_ref (event_id text COLLATE "C" NOT NULL UNIQUE, user_id text, event_type text, occurred_at text, timezone text, properties text);',
      'CREATE TEMP TABLE stage (event_id text, user_id text, event_type text, occurred_at text, timezone text, properties text);',
      `\\copy stage FROM '${csv.replace(/'/g, "''")}' WITH (FORMAT csv, HEADER true, FORCE_NOT_NULL (event_id))`,
      'INSERT INTO events_ref SELECT * FROM stage ON CONFLICT (event_id) DO NOTHING;',
      'SELECT count(*) FROM events_ref;',
      '',
    ].join('\n'),
  );
  const r = await measure(label, pg.psql, [...pg.psqlArgs(url), '-A', '-t', '-f', script], { dir: ctx.dir, env: childEnv() });
  const imported = Number(r.stdout.trim().split('\n').pop());
  return { ...r, imported, failed: 0 };
}

/** Did the tool count what the generator wrote? (inserted = distinct good rows, etc.) */
function verify(totals, ev) {
  if (!totals) return 'no JSON report';
  const want = { rows: ev.rows, inserted: ev.fresh, duplicates: ev.duplicates, conflicts: ev.conflicts, rejected: ev.bad + ev.conflicts };
  const bad = Object.entries(want).filter(([k, v]) => totals[k] !== v);
  return bad.length ? 'MISMATCH ' + bad.map(([k, v]) => `${k} ${totals[k]}!=${v}`).join(' ') : 'ok';
}

// ---------------------------------------------------------------------------------------------
// Extension points for the later benchmarks. Each returns a result row, or a skipped row when the
// command is not in `bin/rewards --help` yet.

function commandsOfTool() {
  const r = spawnSync(BIN, ['--help'], { encoding: 'utf8', env: childEnv() });
  const text = r.stdout ?? '';
  const section = text.split(/^Commands:\s*$/m)[1] ?? '';
  return new Set([...section.matchAll(/^ {2}([a-z][a-z-]*)\b/gm)].map((m) => m[1]));
}

function skipped(label, why = 'skipped: command not implemented yet') {
  return { label, skipped: why };
}

/** Issue 3: a full `rewards run` over the data with bench.config.json, as of the last generated day. */
async function benchFullRun(ctx) {
  const label = 'run (full)';
  if (!ctx.commands.has('run')) return skipped(label);
  const args = ['--db', ctx.db, '--config', ctx.config, 'run', '--as-of', ctx.meta.last_day, '--json', '--quiet'];
  const r = await measure('run-full', BIN, args, { dir: ctx.dir, env: childEnv() });
  const out = parseJson(r.stdout);
  return { label, ...pick(r), as_of: ctx.meta.last_day, grants: out?.grants ?? null, amount_cents: out?.amount_cents ?? null, json: out };
}

/** Issue 3: one more day of events (ingested, timed separately), then a run as of that day. */
async function benchIncrementalRun(ctx) {
  const label = 'run (incremental)';
  if (!ctx.commands.has('run')) return skipped(label);
  const x = ctx.meta.extra_day;
  const ing = await ingest(ctx, 'ingest-extra-day', join(ctx.data, x.csv), ctx.db);
  const args = ['--db', ctx.db, '--config', ctx.config, 'run', '--as-of', x.date, '--json', '--quiet'];
  const r = await measure('run-incremental', BIN, args, { dir: ctx.dir, env: childEnv() });
  const out = parseJson(r.stdout);
  return {
    label,
    ...pick(r),
    as_of: x.date,
    grants: out?.grants ?? null,
    amount_cents: out?.amount_cents ?? null,
    extra_day_ingest: { ...pick(ing), rows: ing.totals?.rows ?? null },
    json: out,
  };
}

/** Export runs per size; the median is reported. */
const EXPORT_RUNS = 5;

/** Issue 4: `rewards export --partner acme` of the data (acme holds about half of the members). */
async function benchExport(ctx) {
  const label = 'export acme';
  if (!ctx.commands.has('export')) return skipped(label);
  // acme is a Safe Harbor partner: its release carries data up to the end of the last complete year,
  // so the export is as of the data's year end, which releases all of it.
  const asOf = `${(ctx.meta.extra_day?.date ?? ctx.meta.last_day).slice(0, 4)}-12-31`;
  const args = ['--db', ctx.db, '--config', ctx.config, 'export', '--partner', 'acme', '--as-of', asOf, '--json', '--quiet'];
  // Half a second a run, of which a fifth is Node starting: one run is mostly noise. Each run
  // replaces the previous folder (the same as-of date), as a nightly rerun would.
  const runs = [];
  for (let i = 0; i < EXPORT_RUNS; i++) runs.push(await measure('export-acme', BIN, args, { dir: ctx.dir, env: childEnv({ REWARDS_KEY_ACME: BENCH_KEY }) }));
  const r = medianRun(runs);
  const out = parseJson(r.stdout);
  let rows = out?.files?.reduce((s, f) => s + (Number(f.rows) || 0), 0) ?? null;
  if (rows === null && out?.dir && existsSync(out.dir)) rows = countCsvRows(out.dir);
  return { label, ...pick(r), runs: r.runs, rows, rowsPerS: rows ? rows / r.seconds : null, json: out };
}

function countCsvRows(dir) {
  let n = 0;
  for (const f of readdirSync(dir)) {
    if (!f.endsWith('.csv')) continue;
    const text = readFileSync(join(dir, f), 'utf8');
    n += Math.max(0, text.split('\n').filter(Boolean).length - 1);
  }
  return n;
}

function pick(r) {
  const error = r.code === 0 ? null : r.stderrHead.trim().split('\n').slice(-3).join(' | ').slice(0, 160) || '(no message)';
  return { code: r.code, seconds: r.seconds, cpuSeconds: r.cpuSeconds, rssMB: r.rssMB, error };
}

/**
 * The config the run/export benchmarks use: bench.config.json copied into the size's work folder
 * (so its relative paths, out/grants and out/outbox, land there and not in the repository), with
 * the campaigns moved to cover the generated days when the data starts elsewhere than 2026-03-01.
 */
function prepareConfig(dir, meta) {
  const cfg = JSON.parse(readFileSync(join(HERE, 'bench.config.json'), 'utf8'));
  const lastNeeded = meta.extra_day?.date ?? meta.last_day;
  for (const c of cfg.campaigns ?? []) {
    if (c.start > meta.first_day || c.end < lastNeeded) {
      const len = Math.round((Date.parse(c.end) - Date.parse(c.start)) / 86_400_000);
      c.start = meta.first_day;
      c.end = addDays(meta.first_day, Math.max(len, Math.round((Date.parse(lastNeeded) - Date.parse(meta.first_day)) / 86_400_000)));
    }
  }
  const path = join(dir, 'rewards.config.json');
  writeFileSync(path, JSON.stringify(cfg, null, 2) + '\n');
  return path;
}

// ---------------------------------------------------------------------------------------------
// Output

const fmtInt = (n) => (n === null || n === undefined || Number.isNaN(n) ? '-' : Math.round(n).toLocaleString('en-US'));
const fmtS = (s) => (s === null || s === undefined ? '-' : s.toFixed(2));
const fmtMB = (m) => (m ? m.toFixed(0) : '-');

function table(headers, rows, align) {
  const w = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => cells.map((c, i) => (align[i] === 'r' ? String(c).padStart(w[i]) : String(c).padEnd(w[i]))).join('  ');
  return [line(headers), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n');
}

function sizeLabel(n) {
  return n >= 1e6 && n % 1e6 === 0 ? `${n / 1e6}M` : n >= 1e3 && n % 1e3 === 0 ? `${n / 1e3}k` : String(n);
}

// ---------------------------------------------------------------------------------------------

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`bench: ${err.message}\n`);
    return 64;
  }
  if (opts.help) {
    process.stdout.write(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1, 24).map((l) => l.replace(/^\/\/ ?/, '')).join('\n') + '\n');
    return 0;
  }
  const log = (m) => process.stderr.write(`bench: ${m}\n`);
  if (!existsSync(join(ROOT, 'dist/main.js'))) {
    log('dist/main.js is missing: run `npm run bench` (it builds first) or `npx tsc -p .`');
    return 1;
  }
  const sqlite = opts.ref ? haveCommand('sqlite3', ['--version']) : null;
  const commands = commandsOfTool();
  const env = {
    node: process.version,
    cpu: `${cpus()[0]?.model ?? '?'} x${cpus().length}`,
    memGB: +(totalmem() / 2 ** 30).toFixed(1),
    sqlite3: sqlite ? sqlite.split(' ')[0] : null,
    rss: HAVE_TIME ? '/usr/bin/time -f %M' : 'VmHWM polled every 20 ms',
    loadavg: loadavg().map((x) => +x.toFixed(2)),
  };
  log(`node ${env.node}, ${env.cpu}, sqlite3 ${env.sqlite3 ?? 'not installed'}, peak RSS via ${env.rss}`);
  if (opts.ref && !sqlite) log('sqlite3 is not installed: the reference import is skipped (apt-get install -y sqlite3)');

  const pg = opts.engines.includes('pg') ? startPostgres(WORK, opts.pg) : null;
  if (pg?.why) log(`PostgreSQL benchmarks skipped: ${pg.why}`);
  else if (pg) log(`PostgreSQL: ${pg.label}`);
  env.postgres = pg && !pg.why ? pg.label : (pg?.why ?? 'not asked for');
  const results = { started_at: new Date().toISOString(), env, sizes: [] };
  for (const n of opts.sizes) {
    const params = { events: n, members: Math.max(10, Math.round(n / 10)), days: 90 };
    const t0 = Date.now();
    const data = ensureData(params, { log: (m) => log(`generate ${sizeLabel(n)}: ${m}`), force: opts.regenerate });
    log(`${sizeLabel(n)}: data in ${data.dir} (${data.reused ? 'reused' : `generated in ${((Date.now() - t0) / 1000).toFixed(1)} s`})`);
    const dir = join(RUN_DIR, sizeLabel(n));
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const ctx = { n, dir, data: data.dir, meta: data.meta, commands, config: prepareConfig(dir, data.meta), db: join(dir, 'csv.db') };
    const ev = data.meta.events;
    const size = { n, params, data: data.dir, ingest: [], later: [] };
    results.sizes.push(size);

    const csvFile = join(data.dir, 'events.csv');
    const ndFile = join(data.dir, 'events.ndjson');
    if (!opts.engines.includes('sqlite')) {
      // PostgreSQL only (below)
    } else if (opts.only && opts.only !== 'ingest') {
      // Only the later benchmarks: load the events once, untimed as a benchmark (still shown).
      log(`${sizeLabel(n)}: rewards ingest csv (setup)`);
      const r = await ingest(ctx, 'ingest-csv', csvFile, freshDb(ctx.db));
      size.later.push({ label: 'ingest events.csv (setup)', ...pick(r), rows: r.totals?.rows ?? null });
    } else {
      const inputs = [
        ...(sqlite ? [{ input: 'sqlite3 .import csv', file: csvFile, run: () => sqliteImport(ctx, 'sqlite3-import', csvFile) }] : []),
        { input: 'rewards ingest csv', file: csvFile, run: () => ingest(ctx, 'ingest-csv', csvFile, freshDb(ctx.db)) },
        { input: 'rewards ingest ndjson', file: ndFile, run: () => ingest(ctx, 'ingest-ndjson', ndFile, freshDb(join(dir, 'ndjson.db'))) },
      ];
      log(`${sizeLabel(n)}: ${inputs.map((x) => x.input).join(', ')}${opts.repeat > 1 ? ` (${opts.repeat} rounds)` : ''}`);
      const measured = await inRounds(opts.repeat, inputs.map((x) => x.run));
      for (const [k, x] of inputs.entries()) {
        const r = measured[k];
        const base = { input: x.input, file: x.file, bytes: statSync(x.file).size, rows: ev.rows, ...pick(r), runs: r.runs };
        size.ingest.push(x.input.startsWith('sqlite3') ? { ...base, imported: r.imported, failed: r.failed } : { ...base, totals: r.totals, check: verify(r.totals, ev) });
      }
      const ref = size.ingest.find((r) => r.input.startsWith('sqlite3'));
      for (const r of size.ingest) {
        r.rowsPerS = r.rows / r.seconds;
        r.vsSqlite = ref && ref.code === 0 ? r.rowsPerS / (ref.rows / ref.seconds) : null;
      }
    }

    if (opts.engines.includes('sqlite')) await laterSteps(ctx, size.later);
    if (pg && !pg.why) size.pg = await benchPostgres({ ...ctx, dir: join(dir, 'pg') }, pg, csvFile, ev);
  }
  pg?.stop?.();
  report(results, opts, env);
  return opts.check && results.targets.some((t) => !t.ok) ? 1 : 0;

  async function benchPostgres(pctx, server, csvFile, ev) {
    const out = { server: server.label, ingest: [], later: [] };
    const name = (x) => `${sizeLabel(pctx.n)}_${x}`;
    if (!opts.only || opts.only === 'ingest') {
      const inputs = [
        { input: 'psql \\copy csv', run: () => psqlCopy(pctx, server, name('ref'), csvFile) },
        { input: 'rewards ingest csv', run: () => ingest({ ...pctx }, 'pg-ingest-csv', csvFile, (pctx.db = server.fresh(name('tool')))) },
      ];
      log(`${sizeLabel(pctx.n)}: PostgreSQL: ${inputs.map((x) => x.input).join(', ')}${opts.repeat > 1 ? ` (${opts.repeat} rounds)` : ''}`);
      const measured = await inRounds(opts.repeat, inputs.map((x) => x.run));
      for (const [k, x] of inputs.entries()) {
        const r = measured[k];
        const base = { input: x.input, file: csvFile, bytes: statSync(csvFile).size, rows: ev.rows, ...pick(r), runs: r.runs };
        out.ingest.push(k === 0 ? { ...base, imported: r.imported, failed: r.failed } : { ...base, totals: r.totals, check: verify(r.totals, ev) });
      }
      const ref = out.ingest[0];
      for (const r of out.ingest) {
        r.rowsPerS = r.rows / r.seconds;
        r.vsSqlite = ref.code === 0 ? r.rowsPerS / (ref.rows / ref.seconds) : null;
      }
      // The later steps go on in the last round's database (every round loads the same file).
    } else {
      pctx.db = server.fresh(name('tool'));
      const r = await ingest(pctx, 'pg-ingest-csv', csvFile, pctx.db);
      out.later.push({ label: 'ingest events.csv (setup)', ...pick(r), rows: r.totals?.rows ?? null });
    }
    await laterSteps(pctx, out.later);
    return out;
  }

  async function laterSteps(ctx, later) {
    const n = ctx.n;
    const data = { dir: ctx.data };
  if (opts.only !== 'ingest' && (commands.has('run') || commands.has('export'))) {
      // Members are needed by eligibility (run) and the export population.
      log(`${sizeLabel(n)}: members`);
      const m = await ingest(ctx, 'ingest-members', join(data.dir, 'members.csv'), ctx.db, { kind: 'members' });
      later.push({ label: 'ingest members.csv', ...pick(m), rows: m.totals?.rows ?? null });
    }
    if (!opts.only || opts.only === 'run') {
      log(`${sizeLabel(n)}: full run`);
      later.push(await benchFullRun(ctx));
      log(`${sizeLabel(n)}: incremental run`);
      later.push(await benchIncrementalRun(ctx));
    }
    if (opts.only === 'export') {
      // The export reads grants: without a run first its figure would not be comparable.
      log(`${sizeLabel(n)}: full run (setup)`);
      const r = await benchFullRun(ctx);
      later.push({ ...r, label: `${r.label} (setup)` });
    }
    if (!opts.only || opts.only === 'export') {
      log(`${sizeLabel(n)}: export`);
      later.push(await benchExport(ctx));
    }
  }
}

function report(results, opts, env) {
  const lines = [];
  lines.push(`rewards benchmark — ${results.started_at}`);
  lines.push(`node ${env.node}; ${env.cpu}; ${env.memGB} GB RAM; sqlite3 CLI ${env.sqlite3 ?? 'not installed (reference skipped)'}; peak RSS: ${env.rss}`);
  const endLoad = loadavg()[0];
  lines.push(`load average at start ${env.loadavg[0]}, at end ${endLoad.toFixed(2)} (${cpus().length} cores)${Math.max(env.loadavg[0], endLoad) > 0.5 ? ': other work was running, wall times are noisy; cpu s is the steadier figure' : ''}`);
  lines.push(`command: bin/rewards --db X --config C ingest FILE --quiet --json --max-reject-rate 1  (fresh on-disk database each; median of ${opts.repeat} run(s), in rounds)`);
  lines.push('reference: sqlite3 X  with  .mode csv / .import --skip 1 FILE events_ref  (same 6 columns, event_id TEXT NOT NULL UNIQUE, WAL, synchronous=NORMAL)');
  lines.push('');
  const rows = [];
  for (const s of results.sizes) {
    for (const r of s.ingest) {
      rows.push([
        sizeLabel(s.n),
        r.input,
        fmtInt(r.rows),
        (r.bytes / 2 ** 20).toFixed(0),
        fmtS(r.seconds),
        fmtS(r.cpuSeconds),
        fmtInt(r.rowsPerS),
        fmtMB(r.rssMB),
        r.vsSqlite === null ? '-' : r.vsSqlite.toFixed(2) + 'x',
        r.totals ? `${r.totals.inserted}/${r.totals.duplicates}/${r.totals.conflicts}/${r.totals.rejected}` : r.imported !== undefined ? `${r.imported} imported, ${r.failed} failed` : '-',
        r.code === 0 ? (r.check ?? 'ok') : `exit ${r.code}: ${r.error}`,
      ]);
    }
  }
  lines.push(table(['size', 'input', 'rows', 'MiB', 'wall s', 'cpu s', 'rows/s', 'peak RSS MB', 'vs sqlite3', 'ins/dup/confl/rej', 'check'], rows, ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l', 'l']));
  const later = [];
  for (const s of results.sizes) {
    for (const r of s.later) {
      if (r.skipped) later.push([sizeLabel(s.n), r.label, '-', '-', '-', '-', r.skipped]);
      else {
        const detail = r.code !== 0 ? `exit ${r.code}: ${r.error}` : r.rowsPerS ? `${fmtInt(r.rows)} rows, ${fmtInt(r.rowsPerS)} rows/s` : r.grants !== undefined ? `as of ${r.as_of}: ${fmtInt(r.grants)} grants${r.extra_day_ingest ? `; one more day ingested in ${fmtS(r.extra_day_ingest.seconds)} s` : ''}` : `${fmtInt(r.rows)} rows`;
        later.push([sizeLabel(s.n), r.label, fmtS(r.seconds), fmtS(r.cpuSeconds), fmtMB(r.rssMB), r.code, detail]);
      }
    }
  }
  if (later.length) {
    lines.push('');
    lines.push(table(['size', 'step', 'wall s', 'cpu s', 'peak RSS MB', 'exit', 'detail'], later, ['l', 'l', 'r', 'r', 'r', 'r', 'l']));
  }

  const pgRows = [];
  const pgLater = [];
  for (const s of results.sizes) {
    if (!s.pg) continue;
    for (const r of s.pg.ingest) {
      pgRows.push([sizeLabel(s.n), r.input, fmtInt(r.rows), fmtS(r.seconds), fmtS(r.cpuSeconds), fmtInt(r.rowsPerS), fmtMB(r.rssMB), r.vsSqlite === null ? '-' : r.vsSqlite.toFixed(2) + 'x',
        r.totals ? `${r.totals.inserted}/${r.totals.duplicates}/${r.totals.conflicts}/${r.totals.rejected}` : `${fmtInt(r.imported)} stored`, r.code === 0 ? (r.check ?? 'ok') : `exit ${r.code}: ${r.error}`]);
    }
    for (const r of s.pg.later) {
      const detail = r.code !== 0 ? `exit ${r.code}: ${r.error}` : r.rowsPerS ? `${fmtInt(r.rows)} rows, ${fmtInt(r.rowsPerS)} rows/s` : r.grants !== undefined ? `as of ${r.as_of}: ${fmtInt(r.grants)} grants${r.extra_day_ingest ? `; one more day ingested in ${fmtS(r.extra_day_ingest.seconds)} s` : ''}` : `${fmtInt(r.rows)} rows`;
      pgLater.push([sizeLabel(s.n), r.label, fmtS(r.seconds), fmtS(r.cpuSeconds), fmtMB(r.rssMB), r.code, detail]);
    }
  }
  if (pgRows.length || pgLater.length) {
    lines.push('');
    lines.push(`PostgreSQL: ${env.postgres}; cpu s and RSS are the client's (the server's work is in wall s)`);
    lines.push('reference: psql \\copy FILE into a staging table, then INSERT ... ON CONFLICT (event_id) DO NOTHING into a table of the same 6 columns with a UNIQUE event_id');
    if (pgRows.length) lines.push(table(['size', 'input', 'rows', 'wall s', 'cpu s', 'rows/s', 'peak RSS MB', 'vs psql', 'ins/dup/confl/rej', 'check'], pgRows, ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'l', 'l']));
    if (pgLater.length) lines.push(table(['size', 'step', 'wall s', 'cpu s', 'peak RSS MB', 'exit', 'detail'], pgLater, ['l', 'l', 'r', 'r', 'r', 'r', 'l']));
  }

  // ---- targets
  const verdicts = [];
  const v = (ok, text) => verdicts.push({ ok, text });
  const pgBig = [...results.sizes].reverse().find((s) => s.pg);
  if (pgBig) {
    const tool = pgBig.pg.ingest.find((r) => r.input === 'rewards ingest csv');
    if (tool?.vsSqlite != null) v(tool.vsSqlite >= TARGETS.csvVsSqlite, `PostgreSQL: CSV ingest at ${sizeLabel(pgBig.n)}: ${tool.vsSqlite.toFixed(2)}x psql \\copy (target >= ${TARGETS.csvVsSqlite}x)`);
    for (const r of pgBig.pg.ingest) if (r.check && r.check !== 'ok') v(false, `PostgreSQL: counts at ${sizeLabel(pgBig.n)}: ${r.check}`);
    const f = pgBig.pg.later.find((r) => r.label === 'run (full)' && r.code === 0);
    const i = pgBig.pg.later.find((r) => r.label === 'run (incremental)' && r.code === 0);
    const e = pgBig.pg.later.find((r) => r.label === 'export acme' && r.code === 0);
    if (f) v(f.seconds < TARGETS.fullRunS, `PostgreSQL: full run at ${sizeLabel(pgBig.n)}: ${fmtS(f.seconds)} s (target < ${TARGETS.fullRunS} s)`);
    if (f && i) v(i.seconds < f.seconds * TARGETS.incrementalShare, `PostgreSQL: incremental run: ${fmtS(i.seconds)} s = ${(i.seconds / f.seconds).toFixed(2)} of the full run (target < ${TARGETS.incrementalShare})`);
    if (e?.rowsPerS) v(e.rowsPerS >= TARGETS.exportRowsPerS, `PostgreSQL: export: ${fmtInt(e.rowsPerS)} rows/s (target >= ${fmtInt(TARGETS.exportRowsPerS)})`);
    for (const r of pgBig.pg.later) if (r.code !== 0) v(false, `PostgreSQL: ${r.label} failed: exit ${r.code}: ${r.error}`);
  }
  const big = results.sizes[results.sizes.length - 1];
  const small = results.sizes[0];
  const ing = (s, fmt) => s?.ingest.find((r) => r.input === `rewards ingest ${fmt}`);
  const bc = ing(big, 'csv');
  const bn = ing(big, 'ndjson');
  if (bc?.vsSqlite != null) v(bc.vsSqlite >= TARGETS.csvVsSqlite, `CSV ingest at ${sizeLabel(big.n)}: ${bc.vsSqlite.toFixed(2)}x sqlite3 .import (target >= ${TARGETS.csvVsSqlite}x)`);
  if (bc && bn) {
    // Both formats wait on the same SQLite writer, so they run at about the same speed, and which
    // median is ahead changes from run to run. Slower means slower than CSV's own rounds vary:
    // NDJSON's median time above CSV's slowest round.
    const csvSlowest = Math.max(...(bc.runs ?? [bc]).map((r) => r.seconds));
    const ok = bn.rowsPerS >= bc.rowsPerS || bn.seconds <= csvSlowest;
    const spread = bn.rowsPerS >= bc.rowsPerS ? '' : `; slower by ${((1 - bn.rowsPerS / bc.rowsPerS) * 100).toFixed(1)}%, ${ok ? 'within' : 'beyond'} CSV's rounds (slowest ${csvSlowest.toFixed(2)} s)`;
    v(ok, `NDJSON ${fmtInt(bn.rowsPerS)} rows/s vs CSV ${fmtInt(bc.rowsPerS)} rows/s at ${sizeLabel(big.n)}${spread} (target: NDJSON no slower)`);
  }
  for (const s of results.sizes)
    for (const r of s.ingest.filter((r) => r.input.startsWith('rewards'))) v(r.rssMB < TARGETS.peakRssMB, `peak RSS ${fmtMB(r.rssMB)} MB, ${r.input} ${sizeLabel(s.n)} (target < ${TARGETS.peakRssMB} MB)`);
  if (big !== small) {
    for (const fmt of ['csv', 'ndjson']) {
      const a = ing(small, fmt);
      const b = ing(big, fmt);
      if (a && b) v(b.rssMB <= a.rssMB * TARGETS.flatRss, `RSS flat, ${fmt}: ${fmtMB(a.rssMB)} MB at ${sizeLabel(small.n)} -> ${fmtMB(b.rssMB)} MB at ${sizeLabel(big.n)} (target <= ${TARGETS.flatRss}x)`);
    }
  }
  for (const s of results.sizes) for (const r of s.ingest) if (r.check && r.check !== 'ok') v(false, `counts at ${sizeLabel(s.n)}, ${r.input}: ${r.check}`);
  const full = big.later.find((r) => r.label === 'run (full)' && !r.skipped && r.code === 0);
  const incr = big.later.find((r) => r.label === 'run (incremental)' && !r.skipped && r.code === 0);
  const exp = big.later.find((r) => r.label === 'export acme' && !r.skipped && r.code === 0);
  if (full) v(full.seconds < TARGETS.fullRunS, `full run at ${sizeLabel(big.n)}: ${fmtS(full.seconds)} s (target < ${TARGETS.fullRunS} s)`);
  if (full && incr) v(incr.seconds < full.seconds * TARGETS.incrementalShare, `incremental run: ${fmtS(incr.seconds)} s = ${(incr.seconds / full.seconds).toFixed(2)} of the full run (target < ${TARGETS.incrementalShare})`);
  if (exp?.rowsPerS) v(exp.rowsPerS >= TARGETS.exportRowsPerS, `export: ${fmtInt(exp.rowsPerS)} rows/s (target >= ${fmtInt(TARGETS.exportRowsPerS)})`);
  const sexp = small.later.find((r) => r.label === 'export acme' && !r.skipped && r.code === 0);
  if (exp && sexp && exp !== sexp) v(exp.rssMB <= sexp.rssMB * TARGETS.flatRss, `export RSS flat: ${fmtMB(sexp.rssMB)} MB at ${sizeLabel(small.n)} -> ${fmtMB(exp.rssMB)} MB at ${sizeLabel(big.n)}`);
  for (const s of results.sizes) for (const r of s.later) if (!r.skipped && r.code !== 0) v(false, `${r.label} at ${sizeLabel(s.n)} failed: exit ${r.code}: ${r.error}`);
  if (verdicts.length) {
    lines.push('');
    lines.push('targets:');
    for (const t of verdicts) lines.push(`  ${t.ok ? 'PASS' : 'FAIL'}  ${t.text}`);
  }
  process.stdout.write(lines.join('\n') + '\n');

  results.targets = verdicts;
  mkdirSync(RESULTS_DIR, { recursive: true });
  const json = JSON.stringify(results, (k, val) => (k === 'json' ? undefined : val), 2) + '\n';
  writeFileSync(join(RESULTS_DIR, 'latest.json'), json);
  writeFileSync(join(RESULTS_DIR, `${results.started_at.replace(/[:.]/g, '-')}.json`), json);
  process.stderr.write(`bench: figures in ${join(RESULTS_DIR, 'latest.json')}; logs and databases in ${RUN_DIR}\n`);
}

process.exitCode = await main();
