/**
 * Issue 13: `rewards deliver` against a real OpenSSH server on 127.0.0.1 (test/deliver/sshd.ts):
 * complete and verified on the far side, never partial to a poller, exactly once across kills,
 * strict about keys, 69 after retries when the server goes away, and OpenPGP that gpg decrypts.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { chmodSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { BIN, cliEnv, parseJsonOutput, sqlite, tempDir } from '../helpers.js';
import { KEYS, loadEvents, loadMembers, makeWs, type Workspace } from '../workspace.js';
import { deliveryConfig, GPG, SSHD, SSHD_HOWTO, TestSshd } from './sshd.js';

vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 });
if (!SSHD) console.warn(`[test/deliver/deliver.test.ts] skipped: ${SSHD_HOWTO}`);

const AS_OF = '2026-12-31';
const DATA = ['activity.csv', 'grants.csv', 'manifest.json', 'members.csv', 'summary.csv'];

const config = deliveryConfig;

async function workspace(sshd: TestSshd, extra: Record<string, unknown> = {}): Promise<Workspace> {
  const ws = makeWs(config(sshd.delivery(extra)), 'rewards-deliver-');
  await loadMembers(
    ws,
    Array.from({ length: 30 }, (_, i) => ({ user_id: `d${i}`, partner: 'acme', share_consent: true, zip: '02139', birth_date: '1990-01-01' })),
  );
  await loadEvents(ws, Array.from({ length: 30 }, (_, i) => ({ user_id: `d${i}`, event_type: 'birth_reported', date: '2026-03-05' })));
  const r = await ws.cli(['run', '--as-of', '2026-03-31', '--quiet']);
  expect(r.code, r.stderr).toBe(0);
  return ws;
}

const deliverArgs = (ws: Workspace, ...more: string[]) => ['--db', ws.db, '--config', ws.configPath, 'deliver', '--partner', 'acme', '--as-of', AS_OF, ...more];
function deliverSync(ws: Workspace, env: Record<string, string> = {}, ...more: string[]) {
  const r = spawnSync(BIN, deliverArgs(ws, ...more), { cwd: ws.dir, encoding: 'utf8', env: cliEnv({ ...KEYS, ...env }) });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** Every file under the remote folder, relative path -> bytes. */
function remoteFiles(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name), `${rel}${e.name}/`);
      else out[`${rel}${e.name}`] = readFileSync(join(d, e.name)).toString('base64');
    }
  };
  walk(root, '');
  return out;
}

describe.skipIf(!SSHD)('rewards deliver, against a real sshd on 127.0.0.1', () => {
  const sshd = new TestSshd();
  beforeAll(() => sshd.start());
  afterAll(() => sshd.stop());

  it('lands complete and verifiable, is recorded once, and is not sent twice', async () => {
    const ws = await workspace(sshd);
    const r = deliverSync(ws, {}, '--json');
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ partner: 'acme', as_of: AS_OF, host: '127.0.0.1', remote_path: `${sshd.remote}/${AS_OF}`, sent: true, encrypted: false });
    const remote = join(sshd.remote, AS_OF);
    expect(readdirSync(remote).sort()).toEqual(['SHA256SUMS', '_SUCCESS', ...DATA].sort());
    const check = spawnSync('sha256sum', ['-c', '--strict', 'SHA256SUMS'], { cwd: remote, encoding: 'utf8' });
    expect(check.status, check.stdout + check.stderr).toBe(0);
    for (const f of DATA) expect(readFileSync(join(remote, f)).equals(readFileSync(join(ws.exportDir('acme', AS_OF), f))), f).toBe(true);
    expect(sqlite(ws.db, 'SELECT partner_id, as_of, remote_path, status, encrypted FROM deliveries')).toEqual([
      { partner_id: 'acme', as_of: AS_OF, remote_path: remote, status: 'delivered', encrypted: 0 },
    ]);
    // Run by root, the test server runs as nobody, and nobody wrote the files: no root login, even on loopback.
    if (process.getuid?.() === 0) expect([sshd.user, statSync(join(remote, 'members.csv')).uid]).toEqual(['nobody', Number(spawnSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).stdout)]);
    // Nothing hidden is left on the server.
    expect(readdirSync(sshd.remote).filter((n) => n.includes(AS_OF))).toEqual([AS_OF]);

    const again = deliverSync(ws);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain('already delivered');
    expect(sqlite(ws.db, 'SELECT count(*) AS n FROM deliveries')).toEqual([{ n: 1 }]);
    const status = spawnSync(BIN, ['--db', ws.db, '--config', ws.configPath, '--json', 'status'], { encoding: 'utf8', env: cliEnv(KEYS) });
    expect(JSON.parse(status.stdout).deliveries).toMatchObject({ last: [{ partner_id: 'acme', as_of: AS_OF, status: 'delivered' }], undelivered: [] });
  });

  it('a relative remote_dir is taken from the login folder, and its last level is created', async () => {
    const parent = sshd.mkdir('relative');
    const rel = relative(sshd.loginFolder(), join(parent, 'incoming'));
    expect(rel.startsWith('/')).toBe(false);
    const ws = await workspace(sshd, { sftp: { ...sshd.delivery().sftp, remote_dir: rel } });
    const r = deliverSync(ws, {}, '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).remote_path).toBe(`${rel}/${AS_OF}`);
    expect(readdirSync(join(parent, 'incoming'))).toEqual([AS_OF]);
    expect(readdirSync(join(parent, 'incoming', AS_OF)).sort()).toEqual(['SHA256SUMS', '_SUCCESS', ...DATA].sort());
    // Rerun: nothing sent again, nothing left over.
    expect(deliverSync(ws).stderr).toContain('already delivered');
    expect(readdirSync(join(parent, 'incoming'))).toEqual([AS_OF]);
  });

  it('a poller listing the remote folder during the upload never sees a partial set', async () => {
    const ws = await workspace(sshd, { sftp: { ...sshd.delivery().sftp, remote_dir: sshd.mkdir('polled') } });
    const child = spawn(BIN, deliverArgs(ws), { cwd: ws.dir, env: cliEnv(KEYS), stdio: 'ignore' });
    const exited = once(child, 'exit');
    const seen = new Set<string>();
    let done = false;
    void exited.then(() => (done = true));
    const target = join(sshd.remote, 'polled', AS_OF);
    while (!done) {
      if (existsSync(target)) {
        const names = readdirSync(target).sort();
        seen.add(names.join(','));
        // Present at all means complete: every data file and SHA256SUMS, with or without _SUCCESS.
        expect(names.filter((n) => n !== '_SUCCESS')).toEqual(['SHA256SUMS', ...DATA].sort());
      }
      await new Promise((r) => setImmediate(r));
    }
    const [code] = (await exited) as [number | null];
    expect(code).toBe(0);
    expect(readdirSync(target)).toContain('_SUCCESS');
  });

  it('killed at any step (recorded, mid-upload, uploaded, renamed), a rerun ends with the same remote files, delivered once', async () => {
    const twin = await workspace(sshd, { sftp: { ...sshd.delivery().sftp, remote_dir: sshd.mkdir('twin') } });
    expect(deliverSync(twin).code).toBe(0);
    const theirs = remoteFiles(join(sshd.remote, 'twin'));
    for (const point of ['deliver:recorded', 'deliver:put#1', 'deliver:put#4', 'deliver:uploaded', 'deliver:renamed']) {
      const dir = sshd.mkdir(point.replace(/[:#]/g, '-'));
      const ws = await workspace(sshd, { sftp: { ...sshd.delivery().sftp, remote_dir: dir } });
      // Same export bytes as the twin's: same data, same key.
      const tmp = tempDir('rewards-deliver-tmp-');
      const killed = deliverSync(ws, { REWARDS_CRASH_AT: point, TMPDIR: tmp });
      expect(killed.signal, `${point}: ${killed.stderr}`).toBe('SIGKILL');
      expect(sqlite(ws.db, 'SELECT status FROM deliveries'), point).toEqual([{ status: 'uploading' }]);
      // What the killed run left in its temp folder is never member data (plaintext is read from the export itself).
      const left = readdirSync(tmp).flatMap((d) => readdirSync(join(tmp, d)));
      expect(left.filter((n) => n.endsWith('.csv') || n.endsWith('.json')), point).toEqual([]);
      // The killed run's sftp quits with it: nothing arrives after the kill.
      const before = remoteFiles(dir);
      await new Promise((r) => setTimeout(r, 300));
      expect(remoteFiles(dir), point).toEqual(before);

      const rerun = deliverSync(ws);
      expect(rerun.code, rerun.stderr).toBe(0);
      const mine = remoteFiles(dir);
      // The manifests differ only by generation time; everything else is byte for byte, and nothing else is there.
      expect(Object.keys(mine).sort(), point).toEqual(Object.keys(theirs).sort());
      for (const f of ['activity.csv', 'grants.csv', 'members.csv', 'summary.csv', '_SUCCESS']) expect(mine[`${AS_OF}/${f}`], `${point} ${f}`).toBe(theirs[`${AS_OF}/${f}`]);
      expect(readdirSync(dir), point).toEqual([AS_OF]);
      expect(sqlite(ws.db, 'SELECT status, remote_path FROM deliveries'), point).toEqual([{ status: 'delivered', remote_path: join(dir, AS_OF) }]);
      const again = deliverSync(ws);
      expect(again.stderr, point).toContain('already delivered');
    }
  });

  it('a folder on the server with the same names and sizes but other content is never completed: the delivery takes the next version', async () => {
    const dir = sshd.mkdir('foreign');
    const ws = await workspace(sshd, { sftp: { ...sshd.delivery().sftp, remote_dir: dir } });
    expect((await ws.cli(['export', '--partner', 'acme', '--as-of', AS_OF, '--quiet'])).code).toBe(0);
    // Someone else's folder: the export's files, each with its first byte changed, and no _SUCCESS.
    const foreign = sshd.mkdir(join('foreign', AS_OF));
    for (const f of [...DATA, 'SHA256SUMS']) {
      const b = Buffer.from(readFileSync(join(ws.exportDir('acme', AS_OF), f)));
      b[0] = b[0]! ^ 1;
      writeFileSync(join(foreign, f), b);
    }
    const before = remoteFiles(foreign);
    const r = deliverSync(ws, {}, '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).remote_path).toBe(join(dir, `${AS_OF}.v2`));
    expect(remoteFiles(foreign)).toEqual(before);
    expect(readdirSync(join(dir, `${AS_OF}.v2`))).toContain('_SUCCESS');
    expect(sqlite(ws.db, 'SELECT status, remote_path FROM deliveries')).toEqual([{ status: 'delivered', remote_path: join(dir, `${AS_OF}.v2`) }]);
  });

  it('a changed host key, a wrong user key and a world-readable identity file are refused with 78, without retrying', async () => {
    const ws = await workspace(sshd);
    // World-readable identity: refused before connecting.
    chmodSync(sshd.userKey, 0o644);
    let r = deliverSync(ws);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('is readable by others (mode 644)');
    chmodSync(sshd.userKey, 0o600);

    // A key the server does not know.
    const stranger = join(tempDir('rewards-key-'), 'k');
    spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', stranger]);
    writeFileSync(ws.configPath, JSON.stringify(config(sshd.delivery({ sftp: { ...sshd.delivery().sftp, identity_file: stranger } }))));
    r = deliverSync(ws);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('refused the key');

    // The server's host key changes: the pinned one no longer matches.
    writeFileSync(ws.configPath, JSON.stringify(config(sshd.delivery())));
    await sshd.stop();
    sshd.changeHostKey();
    await sshd.start();
    r = deliverSync(ws);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('127.0.0.1');
    expect(r.stderr).toMatch(/presents .*SHA256:/);
    expect(sqlite(ws.db, "SELECT count(*) AS n FROM deliveries WHERE status = 'delivered'")).toEqual([{ n: 0 }]);
    const fingerprint = spawnSync('ssh-keygen', ['-l', '-f', `${sshd.hostKey}.pub`], { encoding: 'utf8' }).stdout.split(' ')[1]!;
    expect(r.stderr).toContain(fingerprint);
    expect(r.stderr).toContain(`known_hosts`);

    // A host not pinned at all: refused the same way.
    writeFileSync(sshd.knownHosts, '');
    r = deliverSync(ws);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain(`${sshd.user}@127.0.0.1:${sshd.port}: the server's host key is not the one pinned`);
    expect(r.stderr).toContain(fingerprint);
    expect(sqlite(ws.db, "SELECT count(*) AS n FROM deliveries WHERE status = 'delivered'")).toEqual([{ n: 0 }]);
    // Pin the new key again for the other tests.
    sshd.pin();
  });

  it('the server stopped mid-upload gives 69 after the retries; a later run completes', async () => {
    const dir = sshd.mkdir('stopped');
    // The count binds, not the time: the time the test holds the process stopped counts toward it.
    const ws = await workspace(sshd, { sftp: { ...sshd.delivery().sftp, remote_dir: dir }, retries: 1, retry_max_seconds: 600 });
    // The delivery stops itself (SIGSTOP) after its second file; the server goes away, its session
    // with it; the delivery goes on.
    const child = spawn(BIN, deliverArgs(ws), { cwd: ws.dir, env: cliEnv({ ...KEYS, REWARDS_CRASH_AT: 'deliver:put#2', REWARDS_CRASH_SIGNAL: 'SIGSTOP' }), stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = once(child, 'exit');
    // Stopped: /proc says T.
    for (;;) {
      const st = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
      if (st.slice(st.lastIndexOf(')') + 2).startsWith('T')) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    await sshd.stop();
    child.kill('SIGCONT');
    const [code] = (await exited) as [number | null];
    expect(code, stderr).toBe(69);
    expect(stderr).toMatch(/^rewards: partner acme: delivery to 127\.0\.0\.1 failed after 2 attempt\(s\)/m);
    expect(sqlite(ws.db, 'SELECT status FROM deliveries')).toEqual([{ status: 'failed' }]);
    // Half a delivery is on the server, hidden: two files in the partial folder, nothing at the final name.
    const partial = readdirSync(dir);
    expect(partial).toHaveLength(1);
    expect(partial[0]).toMatch(new RegExp(`^\\.${AS_OF}\\.partial-[0-9a-f]{12}$`));
    expect(readdirSync(join(dir, partial[0]!)).sort()).toEqual(['activity.csv', 'grants.csv']);
    await sshd.start();
    const later = deliverSync(ws, {}, '--json');
    expect(later.code, later.stderr).toBe(0);
    expect(readdirSync(join(dir, AS_OF)).sort()).toEqual(['SHA256SUMS', '_SUCCESS', ...DATA].sort());
    expect(readdirSync(dir)).toEqual([AS_OF]);
    expect(sqlite(ws.db, 'SELECT status FROM deliveries')).toEqual([{ status: 'delivered' }]);
  });

  it.skipIf(!GPG)('encrypts every data file and the manifest to the partner key; gpg decrypts them to the exact local files', async () => {
    const home = tempDir('rewards-gnupg-');
    chmodSync(home, 0o700);
    const gpg = (...args: string[]) => spawnSync(GPG!, ['--homedir', home, '--batch', '--yes', ...args], { encoding: 'utf8' });
    expect(gpg('--passphrase', '', '--quick-gen-key', 'partner@acme.example', 'default', 'default', 'never').status).toBe(0);
    const pub = join(home, 'acme.pub.asc');
    writeFileSync(pub, gpg('--armor', '--export', 'partner@acme.example').stdout);
    const dir = sshd.mkdir('pgp');
    const ws = await workspace(sshd, { sftp: { ...sshd.delivery().sftp, remote_dir: dir }, pgp_recipient_key: pub });
    // Killed once the folder is in place: the rerun encrypts again (other bytes), yet completes the
    // folder already sent and records the files that are there, not its own.
    expect(deliverSync(ws, { REWARDS_CRASH_AT: 'deliver:renamed' }).signal).toBe('SIGKILL');
    const r = deliverSync(ws, {}, '--json');
    expect(r.code, r.stderr).toBe(0);
    const out = parseJsonOutput<{ encrypted: boolean; files: { name: string; bytes: number; sha256: string }[] }>({ ...r, signal: null });
    expect(out.encrypted).toBe(true);
    const remote = join(dir, AS_OF);
    const sha = (f: string) => createHash('sha256').update(readFileSync(join(remote, f))).digest('hex');
    const recorded = JSON.parse(sqlite<{ files: string }>(ws.db, 'SELECT files FROM deliveries')[0]!.files) as { name: string; bytes: number; sha256: string }[];
    expect(recorded.map((f) => f.name).sort()).toEqual(['SHA256SUMS', ...DATA.map((f) => `${f}.pgp`)].sort());
    for (const f of recorded) expect(f.sha256, f.name).toBe(sha(f.name));
    expect(out.files).toEqual(recorded);
    expect(readdirSync(remote).sort()).toEqual(['SHA256SUMS', '_SUCCESS', ...DATA.map((f) => `${f}.pgp`)].sort());
    const check = spawnSync('sha256sum', ['-c', '--strict', 'SHA256SUMS'], { cwd: remote, encoding: 'utf8' });
    expect(check.status, check.stdout + check.stderr).toBe(0);
    for (const f of DATA) {
      const plain = spawnSync(GPG!, ['--homedir', home, '--batch', '--decrypt', join(remote, `${f}.pgp`)]);
      expect(plain.status, String(plain.stderr)).toBe(0);
      expect(Buffer.from(plain.stdout).equals(readFileSync(join(ws.exportDir('acme', AS_OF), f))), f).toBe(true);
    }
  });

  it('in nightly: a failed delivery is reported, blocks no other partner, and goes out the next night', async () => {
    const dir = sshd.mkdir('nightly');
    const good = { ...sshd.delivery(), sftp: { ...sshd.delivery().sftp, remote_dir: dir } };
    // Nothing listens on port 1 of 127.0.0.1: connection refused.
    const down = { ...good, sftp: { ...good.sftp, port: 1 } };
    const partners = (globex: unknown) => [
      { id: 'acme', key_env: 'REWARDS_KEY_ACME', campaigns: ['spring-2026'], date_precision: 'month', safe_harbor: false, schedule: 'daily', delivery: good },
      { id: 'globex', key_env: 'REWARDS_KEY_GLOBEX', campaigns: ['spring-2026'], date_precision: 'month', safe_harbor: false, schedule: 'daily', delivery: globex },
    ];
    const ws = await workspace(sshd);
    writeFileSync(ws.configPath, JSON.stringify({ ...config(good), partners: partners(down) }));
    const night = (asOf: string) => spawnSync(BIN, ['--db', ws.db, '--config', ws.configPath, '--json', 'nightly', '--as-of', asOf], { cwd: ws.dir, encoding: 'utf8', env: cliEnv(KEYS) });
    const first = night('2026-03-31');
    expect(first.status, first.stderr).toBe(69);
    const s1 = JSON.parse(first.stdout);
    expect(s1.status).toBe('partial');
    expect(s1.deliveries.map((d: { partner: string; status: string }) => `${d.partner}:${d.status}`)).toEqual(['acme:delivered', 'globex:failed']);
    expect(first.stderr).toContain('deliver: partner globex: delivery to 127.0.0.1 failed');

    writeFileSync(ws.configPath, JSON.stringify({ ...config(good), partners: partners(good) }));
    const second = night('2026-04-01');
    expect(second.status, second.stderr).toBe(0);
    const s2 = JSON.parse(second.stdout);
    expect(s2.deliveries.map((d: { partner: string; as_of: string; status: string }) => `${d.partner} ${d.as_of}:${d.status}`)).toEqual([
      'globex 2026-03-31:delivered',
      'acme 2026-04-01:delivered',
      'globex 2026-04-01:delivered',
    ]);
    // Both partners deliver into the same folder here: the second one of a date goes to .v2.
    expect(readdirSync(dir).filter((n) => !n.startsWith('.')).sort()).toEqual(['2026-03-31', '2026-03-31.v2', '2026-04-01', '2026-04-01.v2']);
  });

  it.skipIf(spawnSync('script', ['--version'], { stdio: 'ignore' }).status !== 0)('shows a progress bar on a terminal only', async () => {
    const dir = sshd.mkdir('tty');
    const ws = await workspace(sshd, { sftp: { ...sshd.delivery().sftp, remote_dir: dir } });
    const cmd = [BIN, ...deliverArgs(ws)].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { cwd: ws.dir, env: cliEnv({ ...KEYS, CI: undefined }), encoding: 'utf8' });
    expect(r.status, r.stdout).toBe(0);
    expect(r.stdout).toMatch(/\r\x1b\[2Kdeliver acme 2026-12-31 \[[#-]+\] [\d.]+ MiB\/[\d.]+ MiB/);
    expect(r.stdout).toContain('partner acme 2026-12-31: delivered');
    // Not on a pipe (the other tests' stderr): no bar.
    const plain = deliverSync(ws);
    expect(plain.stderr).not.toContain('\x1b[2K');
  });
});

describe('rewards deliver, config', () => {
  it('refuses a host or user that ssh would take for an option, before anything runs', () => {
    for (const sftp of [
      { host: '-oProxyCommand=touch', user: 'rewards' },
      { host: 'sftp.acme.example', user: '-oProxyCommand' },
    ]) {
      const ws = makeWs(config({ sftp: { ...sftp, identity_file: 'k', known_hosts: 'kh', remote_dir: 'in' } }), 'rewards-deliver-');
      const r = ws.cli(['deliver', '--partner', 'acme', '--as-of', AS_OF]);
      expect(r.code, r.stderr).toBe(78);
      expect(r.stderr).toMatch(sftp.host.startsWith('-') ? /partners\[0\]\.delivery\.sftp\.host: expected a host name or address/ : /partners\[0\]\.delivery\.sftp\.user: expected a user name/);
    }
  });
});
