/**
 * A throwaway PostgreSQL cluster for the tests: `initdb` into a temporary folder, the server
 * listening on a unix socket in that folder only (no TCP at all), stopped and removed afterwards.
 * PostgreSQL refuses to run as root: run by root (CI), the cluster belongs to `nobody`. Where the
 * binaries are absent, PG_HOWTO says why the tests skip (CI installs `postgresql`: .ci/run).
 */
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The folder holding initdb, pg_ctl and postgres: on PATH, else Debian's /usr/lib/postgresql/<version>/bin. */
function findBin(): string | null {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl'))) return dir;
  }
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(root, versions[0], 'bin') : null;
}

export const PG_BIN = findBin();
export const PSQL = ['/usr/bin/psql', '/usr/local/bin/psql', PG_BIN && join(PG_BIN, 'psql')].find((p) => p && existsSync(p)) ?? null;
export const PG_HOWTO = 'PostgreSQL server not installed (Debian: apt-get install postgresql); the PostgreSQL tests need a real server';

function account(): { uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return {};
  const nobody = spawnSync('getent', ['passwd', 'nobody'], { encoding: 'utf8' }).stdout.split(':');
  if (nobody.length < 7) throw new Error('running as root, and there is no `nobody` account to run PostgreSQL as');
  return { uid: Number(nobody[2]), gid: Number(nobody[3]) };
}

export class TestPostgres {
  readonly dir = mkdtempSync(join(tmpdir(), 'rewards-pg-'));
  readonly data = join(this.dir, 'data');
  private readonly as = account();
  private running = false;

  private run(cmd: string, args: string[], what: string): string {
    const r = spawnSync(join(PG_BIN!, cmd), args, { encoding: 'utf8', uid: this.as.uid, gid: this.as.gid, cwd: this.dir, timeout: 120_000 });
    if (r.status !== 0) throw new Error(`${what} failed (${r.status ?? r.signal}): ${r.stdout}${r.stderr}`);
    return r.stdout;
  }

  start(): void {
    if (!PG_BIN) throw new Error(PG_HOWTO);
    if (this.as.uid !== undefined) chownSync(this.dir, this.as.uid, this.as.gid!);
    this.run('initdb', ['-D', this.data, '-U', 'rewards', '--auth=trust', '-E', 'UTF8', '--no-locale', '--no-sync'], 'initdb');
    // listen_addresses='' : the unix socket in this folder only. fsync off: a test cluster need not survive a power cut.
    const opts = `-c listen_addresses='' -c unix_socket_directories='${this.dir}' -c fsync=off -c full_page_writes=off -c max_connections=40`;
    this.run('pg_ctl', ['-D', this.data, '-l', join(this.dir, 'server.log'), '-o', opts, '-w', '-t', '60', 'start'], 'pg_ctl start');
    this.running = true;
    // Never left behind, even when the test process ends without its afterAll.
    process.once('exit', () => this.stop());
  }

  /** A new empty database, and the URL the CLI takes for it. */
  createDatabase(name: string): string {
    this.psql('postgres', `CREATE DATABASE "${name}"`);
    return this.url(name);
  }

  url(name: string): string {
    return `postgres://rewards@localhost/${name}?host=${encodeURIComponent(this.dir)}`;
  }

  /** Runs SQL with psql as the test's user; returns its unaligned, tab-separated output. */
  psql(db: string, sql: string): string {
    const r = spawnSync(PSQL!, ['-X', '-q', '-A', '-t', '-F', '\t', '-v', 'ON_ERROR_STOP=1', '-h', this.dir, '-U', 'rewards', '-d', db, '-c', sql], {
      encoding: 'utf8',
      timeout: 120_000,
      maxBuffer: 512 << 20,
    });
    if (r.status !== 0) throw new Error(`psql: ${r.stderr || r.error?.message}`);
    return r.stdout;
  }

  stop(): void {
    if (!this.running) return;
    this.running = false;
    spawnSync(join(PG_BIN!, 'pg_ctl'), ['-D', this.data, '-m', 'immediate', '-w', 'stop'], { uid: this.as.uid, gid: this.as.gid, cwd: this.dir });
    rmSync(this.dir, { recursive: true, force: true });
  }
}
