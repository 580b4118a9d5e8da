/**
 * `rewards deliver`: one export folder to the partner's SFTP server, complete or not at all on the
 * far side, encrypted when the partner asks, recorded once in `deliveries`.
 *
 * On the server: the files go to a hidden folder `<remote_dir>/.<name>.partial-<random>`, their
 * sizes are checked from a listing, the folder is renamed to `<remote_dir>/<name>`, and `_SUCCESS`
 * is put into it last. `<name>` is the as-of date, or `<as-of>.v2`, `.v3`... when that date was
 * delivered before with other data: a delivery never overwrites one the partner may have read.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Partner } from '../config/schema.js';
import { ConfigError, DataError, NoInputError, RewardsError, UnavailableError } from '../errors.js';
import type { Db } from '../store/db.js';
import { findDelivery, finishDelivery, setRemotePath, startDelivery, usedRemotePaths } from '../store/deliveries.js';
import { crashPoint } from '../util/crash-point.js';
import { escapeText } from '../util/escape.js';
import { checkIdentity, parseListing, q, sftpBatch, SftpError, type SftpTarget } from './sftp.js';

export type DeliveryConfig = NonNullable<Partner['delivery']>;

export interface DeliverOptions {
  partner: Partner;
  /** Where the config names this partner, for messages: `partners[0]`. */
  where: string;
  asOf: string;
  /** The export folder (`<outbox>/<partner>/<as-of>`). */
  dir: string;
  onProgress?: (sent: number, total: number) => void;
  /** Waits between attempts (tests pass a fake clock). */
  sleep?: (ms: number) => Promise<void>;
}

export interface DeliverResult {
  partner: string;
  as_of: string;
  host: string;
  remote_path: string;
  files: { name: string; bytes: number; sha256: string }[];
  bytes: number;
  encrypted: boolean;
  /** False when this export had already been delivered: nothing was sent. */
  sent: boolean;
  attempts: number;
}

/** The remote folder chosen for a delivery already holds something else. */
class NameTaken extends Error {
  constructor(readonly path: string) {
    super(`${path} already exists on the server with other files`);
  }
}

interface Outgoing {
  name: string;
  bytes: Buffer;
  sha256: string;
}

/** The export's files as they leave: checked against its SHA256SUMS, encrypted when asked, with a SHA256SUMS of what is sent. */
async function outgoing(dir: string, pgpKey: string | undefined, where: string): Promise<{ files: Outgoing[]; manifestSha: string }> {
  let sums: string;
  try {
    sums = readFileSync(join(dir, 'SHA256SUMS'), 'utf8');
    readFileSync(join(dir, '_SUCCESS'));
  } catch {
    throw new NoInputError(`${escapeText(dir)}: not a complete export (no SHA256SUMS or _SUCCESS); run \`rewards export\` for this partner and date`);
  }
  const listed = new Map(sums.trim().split('\n').map((l) => [l.slice(66), l.slice(0, 64)] as const));
  const names = readdirSync(dir).filter((n) => n !== 'SHA256SUMS' && n !== '_SUCCESS').sort();
  // OpenPGP.js is loaded only when a partner asks for encryption: it costs every other command
  // about 50 ms of start-up.
  const openpgp = pgpKey ? await import('openpgp') : undefined;
  let recipient: import('openpgp').Key | undefined;
  if (pgpKey && openpgp) {
    try {
      recipient = await openpgp.readKey({ armoredKey: readFileSync(pgpKey, 'utf8') });
    } catch (err) {
      throw new ConfigError(`${where}.delivery.pgp_recipient_key: ${escapeText(pgpKey)} is not an armored OpenPGP public key (${(err as Error).message})`);
    }
  }
  const files: Outgoing[] = [];
  let manifestSha = '';
  for (const name of names) {
    const plain = readFileSync(join(dir, name));
    const sha = createHash('sha256').update(plain).digest('hex');
    if (listed.get(name) !== sha) throw new DataError(`${escapeText(join(dir, name))}: does not match the export's SHA256SUMS; export again before delivering`);
    if (name === 'manifest.json') manifestSha = sha;
    if (recipient && openpgp) {
      const message = await openpgp.createMessage({ binary: plain });
      const enc = Buffer.from((await openpgp.encrypt({ message, encryptionKeys: recipient, format: 'binary' })) as Uint8Array);
      files.push({ name: `${name}.pgp`, bytes: enc, sha256: createHash('sha256').update(enc).digest('hex') });
    } else files.push({ name, bytes: plain, sha256: sha });
  }
  const sent = files.map((f) => `${f.sha256}  ${f.name}\n`).join('');
  files.push({ name: 'SHA256SUMS', bytes: Buffer.from(sent), sha256: createHash('sha256').update(sent).digest('hex') });
  return { files, manifestSha };
}

/** `<dir>/<as-of>` -> `<dir>/<as-of>.v2` -> `.v3` ... */
function nextVersion(path: string, asOf: string, dir: string): string {
  const m = /\.v(\d+)$/.exec(path);
  return `${dir}/${asOf}.v${m ? Number(m[1]) + 1 : 2}`;
}

export function targetOf(d: DeliveryConfig): SftpTarget {
  return { ...d.sftp, timeout: d.timeout_seconds };
}

export async function deliver(db: Db, o: DeliverOptions): Promise<DeliverResult> {
  const d = o.partner.delivery;
  if (!d) throw new ConfigError(`${o.where}: partner "${o.partner.id}" has no "delivery" block; add one (README, "rewards deliver")`);
  const target = targetOf(d);
  checkIdentity(target, `${o.where}.delivery.sftp`);
  const { files, manifestSha } = await outgoing(o.dir, d.pgp_recipient_key, o.where);
  const total = files.reduce((n, f) => n + f.bytes.length, 0);
  const base = {
    partner: o.partner.id,
    as_of: o.asOf,
    host: target.host,
    files: files.map((f) => ({ name: f.name, bytes: f.bytes.length, sha256: f.sha256 })),
    bytes: total,
    encrypted: d.pgp_recipient_key !== undefined,
  };

  const prior = findDelivery(db, o.partner.id, o.asOf, manifestSha);
  if (prior?.status === 'delivered') return { ...base, remote_path: prior.remote_path, sent: false, attempts: 0 };

  // The remote folder: the as-of date, or the next version when the date went out with other data.
  let remotePath: string | undefined = prior?.remote_path;
  if (!remotePath) {
    const used = new Set(usedRemotePaths(db, o.partner.id, o.asOf));
    const name = (v: number) => `${d.sftp.remote_dir}/${o.asOf}${v > 1 ? `.v${v}` : ''}`;
    let v = 1;
    while (used.has(name(v))) v++;
    remotePath = name(v);
  }
  const id =
    prior?.delivery_id ??
    startDelivery(db, {
      partner_id: o.partner.id,
      as_of: o.asOf,
      manifest_sha256: manifestSha,
      host: target.host,
      remote_path: remotePath,
      files: JSON.stringify(base.files),
      bytes: total,
      encrypted: base.encrypted ? 1 : 0,
    });

  const stage = mkdtempSync(join(tmpdir(), 'rewards-deliver-'));
  let attempts = 0;
  try {
    for (const f of files) writeFileSync(join(stage, f.name), f.bytes, { mode: 0o600 });
    writeFileSync(join(stage, '_SUCCESS'), '', { mode: 0o600 });
    const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
    const started = Date.now();
    for (;;) {
      attempts++;
      try {
        await upload(target, stage, files, remotePath, d.sftp.remote_dir, o.onProgress, total);
        break;
      } catch (err) {
        if (err instanceof NameTaken) {
          // Someone else's folder: this delivery takes the next version instead.
          remotePath = nextVersion(remotePath, o.asOf, d.sftp.remote_dir);
          setRemotePath(db, id, remotePath);
          attempts--;
          continue;
        }
        const retry = err instanceof SftpError && err.retryable;
        const spent = (Date.now() - started) / 1000;
        if (!retry || attempts > d.retries || spent >= d.retry_max_seconds) {
          finishDelivery(db, id, 'failed', (err as Error).message);
          if (retry) {
            throw new UnavailableError(
              `partner ${o.partner.id}: delivery to ${escapeText(target.host)} failed after ${attempts} attempt(s): ${(err as Error).message}; ` +
                'the export stays undelivered and the next `rewards deliver` (or nightly) tries again',
            );
          }
          throw err;
        }
        await sleep(Math.min(d.retry_max_seconds * 1000, 1000 * 2 ** (attempts - 1)));
      }
    }
    finishDelivery(db, id, 'delivered', null);
    return { ...base, remote_path: remotePath, sent: true, attempts };
  } catch (err) {
    if (!(err instanceof RewardsError)) finishDelivery(db, id, 'failed', (err as Error).message);
    throw err;
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

/**
 * One attempt, idempotent from whatever an earlier attempt left: a finished folder is completed
 * (its _SUCCESS put again), a partial one removed and the upload done again.
 */
async function upload(
  t: SftpTarget,
  stage: string,
  files: Outgoing[],
  remotePath: string,
  remoteDir: string,
  onProgress: ((sent: number, total: number) => void) | undefined,
  total: number,
): Promise<void> {
  const finalName = remotePath.slice(remoteDir.length + 1);
  // What the server already holds of this delivery.
  const listing = await sftpBatch(t, [`-mkdir ${q(remoteDir)}`, `ls -la ${q(remoteDir)}`]);
  // sftp names each entry by its full path when listing an absolute folder: keep the last part.
  const entries = listing
    .split('\n')
    .filter((l) => !l.startsWith('sftp>'))
    .map((l) => l.trim().split(/\s+/).slice(8).join(' ').split('/').pop() ?? '');
  let done = entries.includes(finalName);
  if (done) {
    // Ours only if it holds exactly what this delivery sends (a resumed one); anything else there
    // was put by someone else, and is never written over.
    const sizes = parseListing(await sftpBatch(t, [`ls -ln ${q(remotePath)}`]), `ls -ln ${q(remotePath)}`);
    const mine = files.every((f) => sizes.get(f.name) === f.bytes.length) && [...sizes.keys()].every((n) => n === '_SUCCESS' || files.some((f) => f.name === n));
    if (!mine) throw new NameTaken(remotePath);
  }
  if (!done) {
    const partials = entries.filter((n) => n.startsWith(`.${finalName}.partial-`));
    const tmp = `${remoteDir}/.${finalName}.partial-${randomBytes(6).toString('hex')}`;
    const cleanup = partials.flatMap((p) => [`-rm ${q(`${remoteDir}/${p}`)}/*`, `-rmdir ${q(`${remoteDir}/${p}`)}`]);
    // sftp echoes each command as it starts it: when the next one starts, the file before is sent.
    let echoed = '';
    let started = 0;
    await sftpBatch(
      t,
      [...cleanup, `mkdir ${q(tmp)}`, ...files.map((f) => `put ${q(join(stage, f.name))} ${q(`${tmp}/${f.name}`)}`), `ls -ln ${q(tmp)}`],
      (text) => {
        echoed += text;
        const now = echoed.split('\nsftp> put ').length - 1 + (echoed.startsWith('sftp> put ') ? 1 : 0) + (echoed.includes('sftp> ls -ln') ? 1 : 0);
        if (now === started) return;
        started = now;
        onProgress?.(files.slice(0, Math.max(0, started - 1)).reduce((n, f) => n + f.bytes.length, 0), total);
      },
    ).then((out) => {
      const sizes = parseListing(out, `ls -ln ${q(tmp)}`);
      for (const f of files) {
        if (sizes.get(f.name) !== f.bytes.length) {
          throw new SftpError(`${t.host}: ${f.name} arrived with ${sizes.get(f.name) ?? 'no'} bytes of ${f.bytes.length}; it will be sent again`, 69, true);
        }
      }
    });
    crashPoint('deliver:uploaded');
    await sftpBatch(t, [`rename ${q(tmp)} ${q(remotePath)}`]);
    crashPoint('deliver:renamed');
  }
  // Last: a poller that sees _SUCCESS knows the folder is complete.
  await sftpBatch(t, [`put ${q(join(stage, '_SUCCESS'))} ${q(`${remotePath}/_SUCCESS`)}`]);
  onProgress?.(total, total);
}
