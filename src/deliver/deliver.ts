/**
 * `rewards deliver`: one export folder to the partner's SFTP server, complete or not at all on the
 * far side, encrypted when the partner asks, recorded once in `deliveries`.
 *
 * On the server: the files go to a hidden folder `<remote_dir>/.<name>.partial-<random>`, their
 * sizes are checked from a listing, the folder is renamed to `<remote_dir>/<name>`, and `_SUCCESS`
 * is put into it last. `<name>` is the as-of date, or `<as-of>.v2`, `.v3`... when that date's
 * folder was claimed by a delivery of other data: a delivery never writes into, or completes, a
 * folder it did not upload itself.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Partner } from '../config/schema.js';
import { ConfigError, DataError, NoInputError, RewardsError, UnavailableError } from '../errors.js';
import type { Db } from '../store/db.js';
import {
  finishDelivery,
  findDelivery,
  getDelivery,
  resumeDelivery,
  setDeliveryFiles,
  setRemotePath,
  startDelivery,
  usedRemotePaths,
} from '../store/deliveries.js';
import { crashPoint } from '../util/crash-point.js';
import { escapeText } from '../util/escape.js';
import { writeNewFile } from '../util/durable.js';
import { checkIdentity, parseListing, q, SftpError, SftpSession, type SftpTarget } from './sftp.js';

/** What deliver stages in its private temp folder (encrypted files, SHA256SUMS): the owner's only. */
const STAGE_MODE = 0o600;

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

export interface SentFile {
  name: string;
  bytes: number;
  sha256: string;
}

export interface DeliverResult {
  partner: string;
  as_of: string;
  host: string;
  remote_path: string;
  /** The files on the server, as recorded in `deliveries`. */
  files: SentFile[];
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

/** A file as it leaves: where it is read from, and what it is. */
interface Outgoing extends SentFile {
  path: string;
}

/** The export's files (all but SHA256SUMS and _SUCCESS), each checked against its SHA256SUMS. */
function exportFiles(dir: string): { files: Outgoing[]; manifestSha: string } {
  let sums: string;
  try {
    sums = readFileSync(join(dir, 'SHA256SUMS'), 'utf8');
    readFileSync(join(dir, '_SUCCESS'));
  } catch {
    throw new NoInputError(`${escapeText(dir)}: not a complete export (no SHA256SUMS or _SUCCESS); run \`rewards export\` for this partner and date`);
  }
  const listed = new Map(sums.trim().split('\n').map((l) => [l.slice(66), l.slice(0, 64)] as const));
  const files: Outgoing[] = [];
  let manifestSha = '';
  for (const name of readdirSync(dir).sort()) {
    if (name === 'SHA256SUMS' || name === '_SUCCESS') continue;
    const path = join(dir, name);
    const plain = readFileSync(path);
    const sha256 = createHash('sha256').update(plain).digest('hex');
    if (listed.get(name) !== sha256) throw new DataError(`${escapeText(path)}: does not match the export's SHA256SUMS; export again before delivering`);
    if (name === 'manifest.json') manifestSha = sha256;
    files.push({ name, path, bytes: plain.length, sha256 });
  }
  if (!manifestSha) throw new NoInputError(`${escapeText(dir)}: no manifest.json; run \`rewards export\` for this partner and date`);
  return { files, manifestSha };
}

/**
 * The files as they leave: plaintext ones read from the export folder itself (no copy of member
 * data is made), encrypted ones written to `stage`, then the SHA256SUMS of what is sent.
 */
async function outgoing(plain: Outgoing[], pgpKey: string | undefined, stage: string, where: string): Promise<Outgoing[]> {
  const files: Outgoing[] = [];
  if (pgpKey) {
    // OpenPGP.js is loaded only when a partner asks for encryption: it costs every other command
    // about 50 ms of start-up.
    const openpgp = await import('openpgp');
    let recipient: import('openpgp').Key;
    try {
      recipient = await openpgp.readKey({ armoredKey: readFileSync(pgpKey, 'utf8') });
    } catch (err) {
      throw new ConfigError(`${where}.delivery.pgp_recipient_key: ${escapeText(pgpKey)} is not an armored OpenPGP public key (${(err as Error).message})`);
    }
    for (const f of plain) {
      const message = await openpgp.createMessage({ binary: readFileSync(f.path) });
      const enc = Buffer.from((await openpgp.encrypt({ message, encryptionKeys: recipient, format: 'binary' })) as Uint8Array);
      const name = `${f.name}.pgp`;
      writeNewFile(join(stage, name), enc, STAGE_MODE);
      files.push({ name, path: join(stage, name), bytes: enc.length, sha256: createHash('sha256').update(enc).digest('hex') });
    }
  } else files.push(...plain);
  const sums = Buffer.from(files.map((f) => `${f.sha256}  ${f.name}\n`).join(''));
  writeNewFile(join(stage, 'SHA256SUMS'), sums, STAGE_MODE);
  files.push({ name: 'SHA256SUMS', path: join(stage, 'SHA256SUMS'), bytes: sums.length, sha256: createHash('sha256').update(sums).digest('hex') });
  return files;
}

export function targetOf(d: DeliveryConfig): SftpTarget {
  return { ...d.sftp, timeout: d.timeout_seconds };
}

/** `<remote_dir>/<as-of>`, else `<as-of>.v2`, `.v3`...: the first that no delivery of this date has claimed. */
function freeRemotePath(db: Db, partnerId: string, asOf: string, remoteDir: string): string {
  const used = new Set(usedRemotePaths(db, partnerId, asOf));
  const name = (v: number) => `${remoteDir === '/' ? '' : remoteDir}/${asOf}${v > 1 ? `.v${v}` : ''}`;
  let v = 1;
  while (used.has(name(v))) v++;
  return name(v);
}

function recorded(db: Db, id: number): SentFile[] {
  return JSON.parse(getDelivery(db, id).files) as SentFile[];
}

export async function deliver(db: Db, o: DeliverOptions): Promise<DeliverResult> {
  const d = o.partner.delivery;
  if (!d) throw new ConfigError(`${o.where}: partner "${o.partner.id}" has no "delivery" block; add one (README, "rewards deliver")`);
  const target = targetOf(d);
  checkIdentity(target, `${o.where}.delivery.sftp`);
  let dir: string;
  try {
    // The export's own folder, not the link to it: a re-export moving the link cannot change what is read.
    dir = realpathSync(o.dir);
  } catch {
    throw new NoInputError(`${escapeText(o.dir)}: no export there; run \`rewards export\` for this partner and date`);
  }
  const { files: plain, manifestSha } = exportFiles(dir);
  const encrypted = d.pgp_recipient_key !== undefined;
  const result = (id: number, sent: boolean, attempts: number): DeliverResult => {
    const row = getDelivery(db, id);
    const files = JSON.parse(row.files) as SentFile[];
    return { partner: o.partner.id, as_of: o.asOf, host: row.host, remote_path: row.remote_path, files, bytes: row.bytes, encrypted: row.encrypted === 1, sent, attempts };
  };

  const prior = findDelivery(db, o.partner.id, o.asOf, manifestSha);
  if (prior?.status === 'delivered') return result(prior.delivery_id, false, 0);

  const stage = mkdtempSync(join(tmpdir(), 'rewards-deliver-'));
  let id: number | undefined;
  let attempts = 0;
  try {
    const files = await outgoing(plain, d.pgp_recipient_key, stage, o.where);
    writeNewFile(join(stage, '_SUCCESS'), '', STAGE_MODE);
    const describe = (fs: Outgoing[]) => JSON.stringify(fs.map((f) => ({ name: f.name, bytes: f.bytes, sha256: f.sha256 })));
    const total = files.reduce((n, f) => n + f.bytes, 0);
    // One row per export: a failed or killed delivery is taken up again, with the folder it chose.
    if (prior) {
      id = prior.delivery_id;
      resumeDelivery(db, id, target.host, encrypted ? 1 : 0);
      // The config moved the partner's folder since: the folder claimed there is not this one.
      if (!prior.remote_path.startsWith(`${d.sftp.remote_dir === '/' ? '' : d.sftp.remote_dir}/`)) {
        setRemotePath(db, id, freeRemotePath(db, o.partner.id, o.asOf, d.sftp.remote_dir));
      }
    } else {
      id = startDelivery(db, {
        partner_id: o.partner.id,
        as_of: o.asOf,
        manifest_sha256: manifestSha,
        host: target.host,
        remote_path: freeRemotePath(db, o.partner.id, o.asOf, d.sftp.remote_dir),
        files: describe(files),
        bytes: total,
        encrypted: encrypted ? 1 : 0,
      });
    }
    crashPoint('deliver:recorded');
    const rowId = id;
    const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
    const started = Date.now();
    for (;;) {
      attempts++;
      const remotePath = getDelivery(db, rowId).remote_path;
      try {
        await upload(target, {
          stage,
          files,
          remotePath,
          remoteDir: d.sftp.remote_dir,
          recorded: () => recorded(db, rowId),
          // Recorded before anything is uploaded: the row always names the bytes in the newest folder.
          record: () => setDeliveryFiles(db, rowId, describe(files), total),
          onProgress: o.onProgress,
        });
        break;
      } catch (err) {
        if (err instanceof NameTaken) {
          // Not ours (put there by someone else): this delivery takes the next free version instead.
          const next = nextFree(db, o.partner.id, o.asOf, d.sftp.remote_dir, remotePath);
          setRemotePath(db, rowId, next);
          attempts--;
          continue;
        }
        const retry = err instanceof SftpError && err.retryable;
        const spent = Date.now() - started;
        if (!retry || attempts > d.retries || spent >= d.retry_max_seconds * 1000) {
          finishDelivery(db, rowId, 'failed', (err as Error).message);
          if (retry) {
            throw new UnavailableError(
              `partner ${o.partner.id}: delivery to ${escapeText(target.host)} failed after ${attempts} attempt(s): ${(err as Error).message}; ` +
                'the export stays undelivered and the next `rewards deliver` (or nightly) tries again',
            );
          }
          throw err;
        }
        // Exponential backoff, never past the time allowed in all.
        await sleep(Math.min(1000 * 2 ** (attempts - 1), Math.max(0, d.retry_max_seconds * 1000 - spent)));
      }
    }
    finishDelivery(db, rowId, 'delivered', null);
    return result(rowId, true, attempts);
  } catch (err) {
    if (id !== undefined && !(err instanceof RewardsError)) finishDelivery(db, id, 'failed', (err as Error).message);
    throw err;
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

/** The first `<as-of>.vN` after `path` that no delivery of this date has claimed. */
function nextFree(db: Db, partnerId: string, asOf: string, remoteDir: string, path: string): string {
  const used = new Set(usedRemotePaths(db, partnerId, asOf));
  const m = /\.v(\d+)$/.exec(path);
  let v = m ? Number(m[1]) + 1 : 2;
  const name = (n: number) => `${remoteDir === '/' ? '' : remoteDir}/${asOf}.v${n}`;
  while (used.has(name(v))) v++;
  return name(v);
}

interface UploadPlan {
  stage: string;
  files: Outgoing[];
  remotePath: string;
  remoteDir: string;
  /** The files this delivery recorded last (what it uploaded, if anything). */
  recorded: () => SentFile[];
  record: () => void;
  onProgress: ((sent: number, total: number) => void) | undefined;
}

/**
 * One attempt, on one connection, idempotent from whatever an earlier attempt left: a folder this
 * delivery renamed into place is completed (its _SUCCESS put again), a partial one removed and the
 * upload done again.
 */
async function upload(t: SftpTarget, p: UploadPlan): Promise<void> {
  const s = new SftpSession(t);
  try {
    const finalName = p.remotePath.slice(p.remotePath.lastIndexOf('/') + 1);
    await s.run(`-mkdir ${q(p.remoteDir)}`);
    const entries = parseListing(await s.run(`ls -la ${q(p.remoteDir)}`));
    if (entries.has(finalName)) {
      // Ours only if it holds exactly what this delivery recorded before uploading it: the same
      // SHA256SUMS (which names every file's hash) and every file at its size. Anything else there
      // was put by someone else, and is never written into.
      const mine = p.recorded();
      const sums = join(p.stage, 'remote-SHA256SUMS');
      rmSync(sums, { force: true });
      await s.run(`-get ${q(`${p.remotePath}/SHA256SUMS`)} ${q(sums)}`);
      let sumsSha = '';
      try {
        sumsSha = createHash('sha256').update(readFileSync(sums)).digest('hex');
      } catch {
        // No SHA256SUMS there: not ours.
      }
      const there = parseListing(await s.run(`ls -ln ${q(p.remotePath)}`));
      const same =
        sumsSha === mine.find((f) => f.name === 'SHA256SUMS')?.sha256 &&
        mine.every((f) => there.get(f.name)?.size === f.bytes) &&
        [...there.keys()].every((n) => n === '_SUCCESS' || mine.some((f) => f.name === n));
      if (!same) throw new NameTaken(p.remotePath);
    } else {
      // Leftovers of an earlier attempt at this folder go first.
      for (const [name, e] of entries) {
        if (!e.dir || !name.startsWith(`.${finalName}.partial-`)) continue;
        const left = `${p.remoteDir}/${name}`;
        for (const f of parseListing(await s.run(`ls -la ${q(left)}`)).keys()) await s.run(`-rm ${q(`${left}/${f}`)}`);
        await s.run(`-rmdir ${q(left)}`);
      }
      p.record();
      const tmp = `${p.remoteDir}/.${finalName}.partial-${randomBytes(6).toString('hex')}`;
      await s.run(`mkdir ${q(tmp)}`);
      const total = p.files.reduce((n, f) => n + f.bytes, 0);
      let sent = 0;
      p.onProgress?.(0, total);
      for (const f of p.files) {
        await s.run(`put ${q(f.path)} ${q(`${tmp}/${f.name}`)}`);
        sent += f.bytes;
        p.onProgress?.(sent, total);
        crashPoint('deliver:put');
      }
      const sizes = parseListing(await s.run(`ls -ln ${q(tmp)}`));
      for (const f of p.files) {
        if (sizes.get(f.name)?.size !== f.bytes) {
          throw new SftpError(`${t.host}: ${f.name} arrived with ${sizes.get(f.name)?.size ?? 'no'} bytes of ${f.bytes}; it will be sent again`, 69, true);
        }
      }
      crashPoint('deliver:uploaded');
      await s.run(`rename ${q(tmp)} ${q(p.remotePath)}`);
      crashPoint('deliver:renamed');
    }
    // Last: a poller that sees _SUCCESS knows the folder is complete.
    await s.run(`put ${q(join(p.stage, '_SUCCESS'))} ${q(`${p.remotePath}/_SUCCESS`)}`);
  } finally {
    await s.close();
  }
}
