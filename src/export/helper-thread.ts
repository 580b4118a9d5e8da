import { join } from 'node:path';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { RewardsError } from '../errors.js';
import { openDb } from '../store/db.js';
import { closeSnapshot, iterateActivityLines, openSnapshot } from '../store/export.js';
import { ACTIVITY_HEADER, csvText } from './csv.js';
import { pseudonymiser } from './deidentify.js';
import { CsvFileWriter } from './files.js';
import { FAILED, HELPER_THREAD, type HelperData, type HelperJob, type HelperMessage, type HelperResult, OPENED } from './helper.js';

/** The thread of helper.ts: writes activity.csv from its own connection and snapshot. */

function run(job: HelperJob, opened: Int32Array, post: (m: HelperMessage) => void): HelperResult {
  const db = openDb(job.dbPath, { mustExist: true, readonly: true });
  let w: CsvFileWriter | null = null;
  try {
    openSnapshot(db, {
      partnerId: job.partnerId,
      requireConsent: job.requireConsent,
      windows: job.windows,
      dayPrecision: job.dayPrecision,
      // No generalised fields: these files have only the pseudonym of each member.
      functions: { pseudonym: pseudonymiser(Buffer.from(job.key)), csvText },
      onSnapshot: () => {
        Atomics.store(opened, 0, OPENED);
        Atomics.notify(opened, 0);
      },
    });
    w = new CsvFileWriter(join(job.dir, 'activity.csv'), ACTIVITY_HEADER);
    for (const line of iterateActivityLines(db, job.dayPrecision)) {
      w.writeLine(line);
      if (w.rows % job.progressEvery === 0) post({ type: 'progress', file: 'activity.csv', rows: w.rows });
    }
    const activity = w.close();
    w = null;
    closeSnapshot(db);
    return { activity };
  } finally {
    w?.discard();
    db.close();
  }
}

const data = workerData as Partial<HelperData> | null;
if (!isMainThread && parentPort && data?.kind === HELPER_THREAD) {
  const port = parentPort;
  const opened = data.opened!;
  port.once('message', (job: HelperJob) => {
    try {
      port.postMessage({ type: 'done', result: run(job, opened, (m) => port.postMessage(m)) } satisfies HelperMessage);
    } catch (err) {
      if (Atomics.compareExchange(opened, 0, 0, FAILED) === 0) Atomics.notify(opened, 0);
      const e = err as Error;
      port.postMessage({
        type: 'error',
        message: e?.message ?? String(err),
        exitCode: err instanceof RewardsError ? err.exitCode : null,
        stack: e?.stack,
      } satisfies HelperMessage);
    }
    port.close(); // nothing more to wait for: lets the thread end
  });
}
