/**
 * An SFTP session with OpenSSH's own `sftp` in batch mode: the client operators already run and
 * trust, with OpenSSH's host-key checking (known_hosts, hashed or not) rather than one of ours.
 * Key authentication only, strict host keys, nothing read from the user's ~/.ssh.
 *
 * Commands are fed one at a time, each followed by `version` as a marker of its end: the caller
 * knows when each file has arrived, and when this process dies (even by kill -9) sftp reads the end
 * of its input and quits after the command under way, instead of running the rest of a batch on
 * its own, unwatched.
 */
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { ConfigError, EXIT, RewardsError } from '../errors.js';
import { escapeText } from '../util/escape.js';

export interface SftpTarget {
  host: string;
  port: number;
  user: string;
  identity_file: string;
  known_hosts: string;
  /** Seconds to wait for the connection (and between keep-alives) before giving up. */
  timeout: number;
}

/** A failure worth retrying (the server down or unreachable, a dropped connection) or not (keys, host keys). */
export class SftpError extends RewardsError {
  constructor(
    message: string,
    exitCode: typeof EXIT.UNAVAILABLE | typeof EXIT.CONFIG | typeof EXIT.CANTCREAT,
    readonly retryable: boolean,
  ) {
    super(message, exitCode);
  }
}

/** The identity file must be private, as ssh itself insists (ssh would silently skip it). */
export function checkIdentity(target: SftpTarget, where: string): void {
  let mode: number;
  try {
    mode = statSync(target.identity_file).mode;
  } catch (err) {
    throw new ConfigError(`${where}.identity_file: ${escapeText(target.identity_file)} cannot be read (${(err as Error).message}); create the deploy key (README, "Operations")`);
  }
  if ((mode & 0o077) !== 0) {
    throw new ConfigError(
      `${where}.identity_file: ${escapeText(target.identity_file)} is readable by others (mode ${(mode & 0o777).toString(8)}); ` +
        `a private key must be 0600: chmod 600 ${escapeText(target.identity_file)}`,
    );
  }
  if (/["\u0000-\u001f]/.test(target.known_hosts)) {
    throw new ConfigError(`${where}.known_hosts: ${escapeText(target.known_hosts)} has a quote or a control character, which ssh cannot be given; move the file`);
  }
  try {
    statSync(target.known_hosts);
  } catch {
    throw new ConfigError(`${where}.known_hosts: ${escapeText(target.known_hosts)} cannot be read; pin the server's host key there (README, "Operations")`);
  }
}

function sshOptions(t: SftpTarget): string[] {
  return [
    '-P',
    String(t.port),
    '-i',
    t.identity_file,
    '-o',
    'BatchMode=yes',
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'IdentityAgent=none',
    '-o',
    'PasswordAuthentication=no',
    '-o',
    'KbdInteractiveAuthentication=no',
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    // Quoted: ssh splits this option's value into several files at spaces.
    `UserKnownHostsFile="${t.known_hosts}"`,
    '-o',
    'GlobalKnownHostsFile=/dev/null',
    '-o',
    'UpdateHostKeys=no',
    '-o',
    `ConnectTimeout=${t.timeout}`,
    '-o',
    `ServerAliveInterval=${Math.max(1, Math.ceil(t.timeout / 3))}`,
    '-o',
    'ServerAliveCountMax=3',
    '-F',
    '/dev/null',
  ];
}

/** The host's key fingerprints as the server presents them now (for the message of a refused host key). */
function fingerprintsSeen(t: SftpTarget): string {
  const scan = spawnSync('ssh-keyscan', ['-p', String(t.port), '-T', String(t.timeout), t.host], { encoding: 'utf8', timeout: (t.timeout + 2) * 1000 });
  if (scan.status !== 0 || !scan.stdout) return 'unknown (ssh-keyscan could not reach it)';
  const fp = spawnSync('ssh-keygen', ['-l', '-f', '-'], { input: scan.stdout, encoding: 'utf8' });
  return (
    fp.stdout
      .trim()
      .split('\n')
      .map((l) => l.split(' ').slice(1, 2).concat(l.split(' ').slice(-1)).join(' '))
      .join(', ') || 'unknown'
  );
}

const MARKER = /sftp> version\nSFTP protocol version \d+\n/;

/**
 * One connection to the server. `run` sends one command and resolves with its output once it has
 * finished; a command that fails ends the session (sftp's batch mode) and rejects with an SftpError
 * saying whether retrying can help. A command starting with `-` may fail without ending it.
 */
export class SftpSession {
  private readonly child: ChildProcessWithoutNullStreams;
  private out = '';
  private err = '';
  private exited: Promise<number | null>;
  private failure: SftpError | null = null;
  private waiter: (() => void) | null = null;
  private last = '';

  constructor(private readonly t: SftpTarget) {
    this.child = spawn('sftp', [...sshOptions(t), '-b', '-', '--', `${t.user}@${t.host}`], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout.on('data', (c: Buffer) => {
      this.out += c.toString();
      this.waiter?.();
    });
    this.child.stderr.on('data', (c: Buffer) => (this.err += c.toString()));
    // A session that has gone away fails the command under way; writes after that are dropped.
    this.child.stdin.on('error', () => {});
    this.exited = new Promise((resolve) => {
      this.child.on('error', (e) => {
        this.failure = new SftpError(`cannot run sftp (${e.message}); install the OpenSSH client (Debian: openssh-client)`, EXIT.UNAVAILABLE, false);
        this.waiter?.();
        resolve(null);
      });
      this.child.on('close', (code) => {
        // Whatever ends the session fails a command still waiting (never a wait without end).
        if (!this.failure) {
          this.failure =
            code === 0
              ? new SftpError(`${t.user}@${t.host}:${t.port}: sftp ended before ${escapeText(this.last)} finished`, EXIT.UNAVAILABLE, true)
              : classify(t, this.err, this.last);
        }
        this.waiter?.();
        resolve(code);
      });
    });
  }

  async run(command: string): Promise<string> {
    if (/[\r\n]/.test(command)) throw new ConfigError(`a path with a line break cannot be sent to sftp: ${escapeText(command)}`);
    if (this.failure) throw this.failure;
    this.last = command;
    this.out = '';
    this.child.stdin.write(`${command}\nversion\n`);
    for (;;) {
      const m = MARKER.exec(this.out);
      if (m) {
        const text = this.out.slice(0, m.index);
        this.out = this.out.slice(m.index + m[0].length);
        // The command's own echo is dropped: what is left is its output.
        return text.replace(/^sftp> [^\n]*\n/, '');
      }
      if (this.failure) throw this.failure;
      await new Promise<void>((r) => (this.waiter = r));
      this.waiter = null;
    }
  }

  /** Ends the session: politely when it is healthy, by SIGTERM otherwise. */
  async close(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      if (this.failure) this.child.kill('SIGTERM');
      else this.child.stdin.end('bye\n');
    }
    await this.exited;
  }
}

function classify(t: SftpTarget, stderr: string, command: string): SftpError {
  const where = `${t.user}@${t.host}:${t.port}`;
  const last = escapeText(stderr.trim().split('\n').filter(Boolean).slice(-1)[0] ?? 'no message');
  if (/Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|No .* host key is known/i.test(stderr)) {
    return new SftpError(
      `${where}: the server's host key is not the one pinned in ${escapeText(t.known_hosts)} (the server now presents ${fingerprintsSeen(t)}); ` +
        'check the fingerprint with the partner out of band, then update known_hosts (README, "Operations")',
      EXIT.CONFIG,
      false,
    );
  }
  if (/Permission denied \(|Too many authentication failures|no mutual signature/i.test(stderr)) {
    return new SftpError(`${where}: the server refused the key ${escapeText(t.identity_file)} (${last}); check the deploy key is in its authorized_keys`, EXIT.CONFIG, false);
  }
  if (/Connection refused|timed out|Connection closed|Connection reset|Broken pipe|Could not resolve|No route to host|Network is unreachable|lost connection|Connection to .* closed|Received disconnect/i.test(stderr)) {
    return new SftpError(`${where}: ${last}`, EXIT.UNAVAILABLE, true);
  }
  // A command failed on a live connection (a folder missing, no permission): not fixed by retrying.
  return new SftpError(`${where}: ${escapeText(command)} failed (${last}); check remote_dir and the account's permissions there`, EXIT.CANTCREAT, false);
}

/** A remote listing from `ls -ln` or `ls -la`: name (last part of the path) -> [type, size]. */
export function parseListing(out: string): Map<string, { dir: boolean; size: number }> {
  const entries = new Map<string, { dir: boolean; size: number }>();
  for (const l of out.split('\n')) {
    const f = l.trim().split(/\s+/);
    if (f.length < 9 || !/^[-dlcbps]/.test(f[0]!)) continue;
    const name = f.slice(8).join(' ').split('/').pop()!;
    if (name === '.' || name === '..') continue;
    entries.set(name, { dir: f[0]!.startsWith('d'), size: Number(f[4]) });
  }
  return entries;
}

/** Quotes a path for an sftp command line (glob characters inside quotes are taken literally). */
export function q(path: string): string {
  return `"${path.replace(/(["\\])/g, '\\$1')}"`;
}
