/**
 * A throwaway OpenSSH server for the delivery tests: `sshd -D` with a temporary config, host key,
 * user key and authorized_keys, listening on 127.0.0.1 only, stopped afterwards. Where `sshd` is
 * not installed the tests skip with a message (CI installs openssh-server: .ci/run).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
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

export class TestSshd {
  readonly dir = tempDir('rewards-sshd-');
  readonly remote = join(this.dir, 'remote');
  readonly hostKey = join(this.dir, 'host_ed25519');
  readonly userKey = join(this.dir, 'user_ed25519');
  readonly knownHosts = join(this.dir, 'known_hosts');
  port = 0;
  private proc: ChildProcess | null = null;
  readonly user = process.env.USER ?? (spawnSync('id', ['-un'], { encoding: 'utf8' }).stdout.trim() || 'root');

  async start(): Promise<void> {
    if (!SSHD) throw new Error(SSHD_HOWTO);
    mkdirSync(this.remote, { recursive: true });
    if (!existsSync(this.hostKey)) keygen(this.hostKey);
    if (!existsSync(this.userKey)) keygen(this.userKey);
    writeFileSync(join(this.dir, 'authorized_keys'), readFileSync(`${this.userKey}.pub`));
    if (this.port === 0) this.port = await freePort();
    // Pinned once: a host key changed later must be refused.
    if (!existsSync(this.knownHosts)) writeFileSync(this.knownHosts, `[127.0.0.1]:${this.port} ${readFileSync(`${this.hostKey}.pub`, 'utf8').split(' ').slice(0, 2).join(' ')}\n`);
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
        'PermitRootLogin prohibit-password',
        'UsePAM no',
        'Subsystem sftp internal-sftp',
        'LogLevel ERROR',
      ].join('\n') + '\n',
    );
    // As root, sshd insists on its privilege separation folder.
    if (process.getuid?.() === 0 && !existsSync('/run/sshd')) mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    this.proc = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    await listening(this.port);
  }

  async stop(): Promise<void> {
    const p = this.proc;
    this.proc = null;
    if (!p || p.exitCode !== null) return;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    await gone;
  }

  /** A new host key: the one pinned in known_hosts no longer matches. */
  changeHostKey(): void {
    spawnSync('rm', ['-f', this.hostKey, `${this.hostKey}.pub`]);
    keygen(this.hostKey);
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
