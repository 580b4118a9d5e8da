// PostgreSQL for the benchmark: a server given with --pg URL (databases rewards_bench_* are created
// and dropped on it), else a throwaway cluster started here (initdb into .bench/pg, unix socket
// only, as `nobody` when run by root, since PostgreSQL refuses root), stopped at the end. The
// server's settings are its defaults: the tool and the psql reference run against the same server.

import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

function findBin() {
  for (const dir of (process.env.PATH ?? '').split(':')) if (dir && existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl'))) return dir;
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const v = readdirSync(root).filter((x) => existsSync(join(root, x, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a))[0];
  return v ? join(root, v, 'bin') : null;
}

const PSQL = ['/usr/bin/psql', '/usr/local/bin/psql'].find((p) => existsSync(p)) ?? null;

function account() {
  if (process.getuid?.() !== 0) return {};
  const f = spawnSync('getent', ['passwd', 'nobody'], { encoding: 'utf8' }).stdout.split(':');
  return f.length >= 7 ? { uid: Number(f[2]), gid: Number(f[3]) } : null;
}

/** A server to benchmark against, or { why } when there is none. */
export function startPostgres(workDir, givenUrl) {
  if (!PSQL) return { why: 'psql not installed (apt-get install postgresql-client)' };
  if (givenUrl) return server(givenUrl, () => {});
  const bin = findBin();
  if (!bin) return { why: 'PostgreSQL not installed (apt-get install postgresql), and no --pg URL given' };
  const as = account();
  if (!as) return { why: 'running as root with no `nobody` account to run PostgreSQL as' };
  const dir = join(workDir, 'pg');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  if (as.uid !== undefined) chownSync(dir, as.uid, as.gid);
  const run = (cmd, args) => {
    const r = spawnSync(join(bin, cmd), args, { encoding: 'utf8', uid: as.uid, gid: as.gid, cwd: dir });
    if (r.status !== 0) throw new Error(`${cmd}: ${r.stdout}${r.stderr}`);
  };
  const data = join(dir, 'data');
  run('initdb', ['-D', data, '-U', 'rewards', '--auth=trust', '-E', 'UTF8', '--no-locale']);
  run('pg_ctl', ['-D', data, '-l', join(dir, 'server.log'), '-o', `-c listen_addresses='' -c unix_socket_directories='${dir}'`, '-w', 'start']);
  const stop = () => {
    spawnSync(join(bin, 'pg_ctl'), ['-D', data, '-m', 'fast', '-w', 'stop'], { uid: as.uid, gid: as.gid, cwd: dir });
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', stop);
  return server(`postgres://rewards@localhost/postgres?host=${encodeURIComponent(dir)}`, stop);
}

function server(adminUrl, stop) {
  const admin = new URL(adminUrl);
  const urlOf = (name) => {
    const u = new URL(adminUrl);
    u.pathname = `/${name}`;
    return u.toString();
  };
  const psqlArgs = (url) => ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', url];
  const sql = (url, text) => {
    const r = spawnSync(PSQL, [...psqlArgs(url), '-A', '-t', '-c', text], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`psql: ${r.stderr}`);
    return r.stdout.trim();
  };
  const version = sql(adminUrl, 'SHOW server_version');
  return {
    label: `PostgreSQL ${version}${admin.searchParams.get('host') ? ' (throwaway cluster, unix socket)' : ` at ${admin.host}`}`,
    psql: PSQL,
    psqlArgs,
    /** A new empty database (dropped first if a previous bench left it): its URL. */
    fresh(name) {
      const db = `rewards_bench_${name.toLowerCase().replace(/[^a-z0-9]/g, '_')}`;
      sql(adminUrl, `DROP DATABASE IF EXISTS ${db}`);
      sql(adminUrl, `CREATE DATABASE ${db}`);
      return urlOf(db);
    },
    stop,
  };
}
