/** All SQL of deliveries to partners' SFTP servers (migration 012). */
import { type Db, nowIso, stmt } from './db.js';

export interface DeliveryRow {
  delivery_id: number;
  partner_id: string;
  as_of: string;
  manifest_sha256: string;
  host: string;
  remote_path: string;
  files: string;
  bytes: number;
  encrypted: 0 | 1;
  started_at: string;
  finished_at: string | null;
  status: 'uploading' | 'delivered' | 'failed';
  error: string | null;
}

/**
 * The delivery of this export (by its manifest), whatever its status: one export has one row, which
 * a failed or killed delivery's rerun takes up again (with the remote folder it chose).
 */
export function findDelivery(db: Db, partnerId: string, asOf: string, manifestSha256: string): DeliveryRow | undefined {
  return stmt(db, `SELECT * FROM deliveries WHERE partner_id = ? AND as_of = ? AND manifest_sha256 = ? ORDER BY delivery_id DESC LIMIT 1`).get(
    partnerId,
    asOf,
    manifestSha256,
  ) as DeliveryRow | undefined;
}

export function getDelivery(db: Db, id: number): DeliveryRow {
  return stmt(db, 'SELECT * FROM deliveries WHERE delivery_id = ?').get(id) as DeliveryRow;
}

/**
 * Remote folders claimed for this partner and date by any delivery, whatever its data and status: a
 * failed one may have left its folder on the server, and no other export's delivery may take it.
 */
export function usedRemotePaths(db: Db, partnerId: string, asOf: string): string[] {
  return stmt(db, 'SELECT remote_path FROM deliveries WHERE partner_id = ? AND as_of = ?').pluck().all(partnerId, asOf) as string[];
}

export function startDelivery(db: Db, d: Omit<DeliveryRow, 'delivery_id' | 'started_at' | 'finished_at' | 'status' | 'error'>): number {
  const info = stmt(
    db,
    `INSERT INTO deliveries (partner_id, as_of, manifest_sha256, host, remote_path, files, bytes, encrypted, started_at, status)
     VALUES (@partner_id, @as_of, @manifest_sha256, @host, @remote_path, @files, @bytes, @encrypted, @started_at, 'uploading')`,
  ).run({ ...d, started_at: nowIso() });
  return Number(info.lastInsertRowid);
}

/** A failed or killed delivery taken up again (to the host the config names now). */
export function resumeDelivery(db: Db, id: number, host: string, encrypted: 0 | 1): void {
  stmt(db, "UPDATE deliveries SET status = 'uploading', finished_at = NULL, host = ?, encrypted = ? WHERE delivery_id = ?").run(host, encrypted, id);
}

/** The files as sent, recorded before they are uploaded (an encrypted file differs at each upload). */
export function setDeliveryFiles(db: Db, id: number, files: string, bytes: number): void {
  stmt(db, 'UPDATE deliveries SET files = ?, bytes = ? WHERE delivery_id = ?').run(files, bytes, id);
}

export function setRemotePath(db: Db, id: number, remotePath: string): void {
  stmt(db, 'UPDATE deliveries SET remote_path = ? WHERE delivery_id = ?').run(remotePath, id);
}

export function finishDelivery(db: Db, id: number, status: 'delivered' | 'failed', error: string | null): void {
  stmt(db, 'UPDATE deliveries SET status = ?, error = ?, finished_at = ? WHERE delivery_id = ?').run(status, error, nowIso(), id);
}

/** Each partner's latest delivery. */
export function latestDeliveries(db: Db): DeliveryRow[] {
  return stmt(
    db,
    `SELECT d.* FROM deliveries d WHERE d.delivery_id = (SELECT max(delivery_id) FROM deliveries x WHERE x.partner_id = d.partner_id) ORDER BY d.partner_id`,
  ).all() as DeliveryRow[];
}

/** Exports with no delivery of their manifest yet (for partners that deliver), oldest first. */
export function undeliveredExports(db: Db, partnerIds: readonly string[]): { partner_id: string; as_of: string; dir: string; manifest_sha256: string }[] {
  return stmt(
    db,
    `SELECT e.partner_id, e.as_of, e.dir, e.manifest_sha256 FROM exports e
     WHERE e.partner_id IN (SELECT value FROM json_each(?))
       AND e.export_id = (SELECT max(export_id) FROM exports x WHERE x.partner_id = e.partner_id AND x.as_of = e.as_of)
       AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.partner_id = e.partner_id AND d.as_of = e.as_of
                       AND d.manifest_sha256 = e.manifest_sha256 AND d.status = 'delivered')
     ORDER BY e.as_of, e.partner_id`,
  ).all(JSON.stringify(partnerIds)) as { partner_id: string; as_of: string; dir: string; manifest_sha256: string }[];
}
