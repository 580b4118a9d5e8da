/**
 * A throwaway OpenSSH server for the delivery tests: `sshd -D` with a temporary config, host key,
 * user key and authorized_keys, listening on 127.0.0.1 only, stopped afterwards (its sessions too).
 * Run by root (CI), the server runs as `nobody` and only `nobody` can log in: the tests never open a
 * root login, even on loopback. Run by anyone else, it runs as that user. Where `sshd` is not
 * installed the tests skip with a message (CI installs openssh-server: .ci/run).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { tempDir } from '../helpers.js';

export const SSHD = ['/usr/sbin/sshd', '/usr/local/sbin/sshd'].find((p) => existsSync(p)) ?? null;
export const GPG = ['/usr/bin/gpg', '/usr/local/bin/gpg'].find((p) => existsSync(p)) ?? null;
export const SSHD_HOWTO = 'OpenSSH server not installed (Debian: apt-get install openssh-server); the delivery tests need a real sshd';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

function keygen(path: string): void {
  const r = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'rewards-test', '-f', path]);
  if (r.status !== 0) throw new Error(`ssh-keygen: ${r.stderr}`);
  chmodSync(path, 0o600);
}

/** Resolves once something accepts connections on the port (or rejects after 20 s). */
async function listening(port: number): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = connect(port, '127.0.0.1');
      c.once('connect', () => {
        c.destroy();
        resolve(true);
      });
      c.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`sshd did not listen on 127.0.0.1:${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Who the server runs as, and who logs in: `nobody` when the tests run as root, else the user running them. */
function serverAccount(): { user: string; uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return { user: spawnSync('id', ['-un'], { encoding: 'utf8' }).stdout.trim() || (process.env.USER ?? '') };
  const nobody = spawnSync('getent', ['passwd', 'nobody'], { encoding: 'utf8' }).stdout.split(':');
  if (nobody.length < 7) return { user: 'root' };
  return { user: 'nobody', uid: Number(nobody[2]), gid: Number(nobody[3]) };
}

/** Every process below `pid` (read from /proc): sshd's session processes. */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const st = readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(e)]);
    } catch {
      // Gone meanwhile.
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

export class TestSshd {
  readonly dir = tempDir('rewards-sshd-');
  readonly remote = join(this.dir, 'remote');
  readonly hostKey = join(this.dir, 'host_ed25519');
  readonly userKey = join(this.dir, 'user_ed25519');
  // A space in the name: ssh splits UserKnownHostsFile's value at spaces unless it is quoted.
  readonly knownHosts = join(this.dir, 'pinned known_hosts');
  port = 0;
  private proc: ChildProcess | null = null;
  private readonly account = serverAccount();
  readonly user = this.account.user;

  /** The server's account owns what it reads and writes (root keeps the client's key and known_hosts). */
  private own(path: string): void {
    if (this.account.uid !== undefined) chownSync(path, this.account.uid, this.account.gid!);
  }

  /** A folder under the remote root that the server's account can write to. */
  mkdir(name: string): string {
    const d = join(this.remote, name);
    mkdirSync(d);
    this.own(d);
    return d;
  }

  async start(): Promise<void> {
    if (!SSHD) throw new Error(SSHD_HOWTO);
    mkdirSync(this.remote, { recursive: true });
    if (!existsSync(this.hostKey)) keygen(this.hostKey);
    if (!existsSync(this.userKey)) keygen(this.userKey);
    writeFileSync(join(this.dir, 'authorized_keys'), readFileSync(`${this.userKey}.pub`));
    if (this.port === 0) this.port = await freePort();
    // Pinned once: a host key changed later must be refused.
    if (!existsSync(this.knownHosts)) this.pin();
    const config = join(this.dir, 'sshd_config');
    writeFileSync(
      config,
      [
        `Port ${this.port}`,
        'ListenAddress 127.0.0.1',
        `HostKey ${this.hostKey}`,
        `PidFile ${join(this.dir, 'sshd.pid')}`,
        `AuthorizedKeysFile ${join(this.dir, 'authorized_keys')}`,
        'StrictModes no',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'PubkeyAuthentication yes',
        `PermitRootLogin ${this.user === 'root' ? 'prohibit-password' : 'no'}`,
        // Run by root, sshd takes `nobody`'s locked password field for a locked account unless PAM
        // decides (PAM's account check passes it; authentication is still the key alone).
        `UsePAM ${this.account.uid !== undefined ? 'yes' : 'no'}`,
        'Subsystem sftp internal-sftp',
        'LogLevel ERROR',
      ].join('\n') + '\n',
    );
    // As root, sshd insists on its privilege separation folder.
    if (process.getuid?.() === 0 && !existsSync('/run/sshd')) mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    for (const p of [this.dir, this.remote, this.hostKey, config]) this.own(p);
    this.proc = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'], uid: this.account.uid, gid: this.account.gid });
    const proc = this.proc;
    let log = '';
    proc.stderr!.on('data', (c: Buffer) => (log = (log + c.toString()).slice(-4000)));
    // Never left behind, even when the test process ends without its afterAll.
    const onExit = () => proc.exitCode === null && proc.kill('SIGKILL');
    process.once('exit', onExit);
    proc.once('exit', () => process.removeListener('exit', onExit));
    try {
      await listening(this.port);
    } catch (err) {
      throw new Error(`${(err as Error).message}: ${log}`);
    }
  }

  /** Stops the server and every session it has open (as a server going away mid-upload does). */
  async stop(): Promise<void> {
    const p = this.proc;
    this.proc = null;
    if (!p || p.exitCode !== null) return;
    const sessions = descendants(p.pid!);
    const gone = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    for (const pid of sessions) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    await gone;
  }

  /** A new host key: the one pinned in known_hosts no longer matches. */
  changeHostKey(): void {
    spawnSync('rm', ['-f', this.hostKey, `${this.hostKey}.pub`]);
    keygen(this.hostKey);
  }

  /** The folder a login starts in on the server (what a relative remote_dir is relative to). */
  loginFolder(): string {
    const r = spawnSync(
      'sftp',
      ['-P', String(this.port), '-i', this.userKey, '-o', 'BatchMode=yes', '-o', `UserKnownHostsFile="${this.knownHosts}"`, '-F', '/dev/null', '-b', '-', `${this.user}@127.0.0.1`],
      { input: 'pwd\n', encoding: 'utf8' },
    );
    const m = /^Remote working directory: (.*)$/m.exec(r.stdout);
    if (!m) throw new Error(`sftp pwd: ${r.stdout}${r.stderr}`);
    return m[1]!;
  }

  /** Pins the server's current host key in known_hosts. */
  pin(): void {
    writeFileSync(this.knownHosts, `[127.0.0.1]:${this.port} ${readFileSync(`${this.hostKey}.pub`, 'utf8').split(' ').slice(0, 2).join(' ')}\n`);
  }

  /** The partner's delivery block for this server. */
  delivery(extra: Record<string, unknown> = {}) {
    return {
      sftp: { host: '127.0.0.1', port: this.port, user: this.user, identity_file: this.userKey, known_hosts: this.knownHosts, remote_dir: this.remote },
      retries: 1,
      retry_max_seconds: 2,
      timeout_seconds: 5,
      ...extra,
    };
  }
}

/** The delivery suites' config: one campaign, partner acme delivering with `delivery`. */
export const deliveryConfig = (delivery: unknown) => ({
  timezone: 'UTC',
  paths: { grants: 'out/grants', outbox: 'out/outbox' },
  campaigns: [
    {
      id: 'spring-2026',
      start: '2026-03-01',
      end: '2026-03-31',
      rules: [{ id: 'b', type: 'first_event', event_type: 'birth_reported', reward: { code: 'G', amount_cents: 100, currency: 'USD' } }],
    },
  ],
  partners: [{ id: 'acme', key_env: 'REWARDS_KEY_ACME', campaigns: ['spring-2026'], delivery }],
});
