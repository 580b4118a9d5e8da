/**
 * An SFTP session with OpenSSH's own `sftp` in batch mode: the client operators already run and
 * trust, with OpenSSH's host-key checking (known_hosts, hashed or not) rather than one of ours.
 * Key authentication only, strict host keys, nothing read from the user's ~/.ssh.
 */
import { spawn, spawnSync } from 'node:child_process';
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
    'PasswordAuthentication=no',
    '-o',
    'KbdInteractiveAuthentication=no',
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    `UserKnownHostsFile=${t.known_hosts}`,
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

/**
 * Runs one batch of sftp commands (one per line; a line starting with `-` may fail). Resolves with
 * sftp's output; rejects with an SftpError that says whether retrying can help.
 */
export function sftpBatch(t: SftpTarget, commands: readonly string[], onProgress?: (text: string) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('sftp', [...sshOptions(t), '-b', '-', `${t.user}@${t.host}`], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      onProgress?.(c.toString());
    });
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', (e) =>
      reject(new SftpError(`cannot run sftp (${e.message}); install the OpenSSH client (Debian: openssh-client)`, EXIT.UNAVAILABLE, false)),
    );
    child.on('close', (code) => {
      if (code === 0) return resolve(out);
      reject(classify(t, err, out));
    });
    child.stdin.end(commands.join('\n') + '\n');
  });
}

function classify(t: SftpTarget, stderr: string, stdout: string): SftpError {
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
  if (/Permission denied|Too many authentication failures|no mutual signature/i.test(stderr)) {
    return new SftpError(`${where}: the server refused the key ${escapeText(t.identity_file)} (${last}); check the deploy key is in its authorized_keys`, EXIT.CONFIG, false);
  }
  if (/Connection refused|timed out|Connection closed|Connection reset|Broken pipe|Could not resolve|No route to host|Network is unreachable|lost connection|Connection to .* closed/i.test(stderr)) {
    return new SftpError(`${where}: ${last}`, EXIT.UNAVAILABLE, true);
  }
  // A command failed on a live connection (a folder missing, no permission): not fixed by retrying.
  const failed = stdout.trim().split('\n').filter((l) => l.startsWith('sftp>')).slice(-1)[0] ?? '';
  return new SftpError(`${where}: ${escapeText(failed.replace(/^sftp> /, ''))} failed (${last}); check remote_dir and the account's permissions there`, EXIT.CANTCREAT, false);
}

/** A remote listing from `ls -ln`: name -> size, for regular files. */
export function parseListing(out: string, marker: string): Map<string, number> {
  const files = new Map<string, number>();
  const lines = out.split('\n');
  let on = false;
  for (const l of lines) {
    if (l.startsWith('sftp>')) {
      on = l.includes(marker);
      continue;
    }
    if (!on) continue;
    const f = l.trim().split(/\s+/);
    if (f.length >= 9 && f[0]!.startsWith('-')) files.set(f.slice(8).join(' ').split('/').pop()!, Number(f[4]));
  }
  return files;
}

/** Quotes a path for an sftp batch line. */
export function q(path: string): string {
  return `"${path.replace(/(["\\])/g, '\\$1')}"`;
}
