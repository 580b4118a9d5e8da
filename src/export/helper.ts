import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { type ExitCode, RewardsError } from '../errors.js';
import type { CampaignWindow } from '../store/export.js';
import type { FileInfo } from './files.js';

/**
 * activity.csv on a second core: a helper thread (helper-thread.ts) with its own connection writes
 * it while the export's thread builds the population and writes members.csv and grants.csv (grants
 * moved to the export's thread, which otherwise sat idle waiting for the helper; five runs at 1M
 * events: 0.51-0.65 s, from 0.56-0.70 s).
 * The activity aggregation is the largest single piece of an export; the helper builds the
 * pseudonyms it needs itself (the population without the generalised fields), which costs less than
 * sending them across.
 *
 * Its connection reads its own snapshot. The export waits (on shared memory, without yielding to
 * the event loop while its own snapshot is open) until that snapshot exists, then uses the helper's
 * files only if no commit happened since before either snapshot began (store/export.ts,
 * watchCommits); otherwise, or when the helper could not start or failed, it writes them itself.
 *
 * A thread takes a while to start and load its modules, so the helper can be spawned before its
 * job is known (the export command does so before it loads the config) and given the job later.
 */

/** Marks workerData as helper-thread.ts's, should the core itself ever run inside some other worker. */
export const HELPER_THREAD = 'rewards-export-helper';

export interface HelperData {
  kind: typeof HELPER_THREAD;
  /** [0] becomes OPENED once the helper's snapshot is open, FAILED if it cannot get there. */
  opened: Int32Array;
}

export const OPENED = 1;
export const FAILED = 2;

export interface HelperJob {
  dbPath: string;
  partnerId: string;
  requireConsent: boolean;
  windows: readonly CampaignWindow[];
  dayPrecision: boolean;
  key: Uint8Array;
  /** The staging folder the files go to. */
  dir: string;
  /** activity.csv rows between progress messages. */
  progressEvery: number;
}

export interface HelperResult {
  activity: FileInfo;
}

export type HelperMessage =
  | { type: 'progress'; file: string; rows: number }
  | { type: 'done'; result: HelperResult }
  | { type: 'error'; message: string; exitCode: ExitCode | null; stack?: string };

export interface Helper {
  /** Gives the helper its job (once). */
  start(job: HelperJob, onProgress?: (file: string, rows: number) => void): void;
  /**
   * Waits until the helper's snapshot is open (it begins after `start`): true, or false when the
   * helper failed before (or took longer than a minute, which only a wedged thread would).
   */
  waitOpened(): boolean;
  /** The files once written; rejects with the helper's error. */
  readonly result: Promise<HelperResult>;
  /** Stops the helper, whatever it is doing (its files, if any, go with the staging folder). */
  stop(): Promise<void>;
}

let prestarted: Helper | null = null;

/** Starts a helper before the export is known to need one: see takeHelper. */
export function prestartHelper(): void {
  prestarted ??= spawnHelper();
}

/** The helper prestartHelper started, else a new one (or null, as spawnHelper). */
export function takeHelper(): Helper | null {
  const h = prestarted;
  prestarted = null;
  return h ?? spawnHelper();
}

/** A helper waiting for its job, or null where none can be started or a second thread cannot help. */
export function spawnHelper(): Helper | null {
  if (availableParallelism() < 2) return null; // one core: the thread would only add its start-up
  const opened = new Int32Array(new SharedArrayBuffer(4));
  const script = new URL('./helper-thread.js', import.meta.url).href;
  let worker: Worker;
  try {
    // Loaded through a one-line bootstrap, so that a module that cannot load (e.g. the core run from
    // its TypeScript sources) still says FAILED to an export waiting for it.
    worker = new Worker(
      `const { workerData } = require('node:worker_threads');
       import(${JSON.stringify(script)}).catch(() => { Atomics.store(workerData.opened, 0, ${FAILED}); Atomics.notify(workerData.opened, 0); });`,
      { eval: true, workerData: { kind: HELPER_THREAD, opened } satisfies HelperData },
    );
  } catch {
    return null;
  }
  let progress: ((file: string, rows: number) => void) | undefined;
  let settled = false;
  const result = new Promise<HelperResult>((resolve, reject) => {
    worker.on('message', (m: HelperMessage) => {
      if (m.type === 'progress') progress?.(m.file, m.rows);
      else if (m.type === 'done') {
        settled = true;
        resolve(m.result);
      } else {
        settled = true;
        const err = m.exitCode === null ? new Error(m.message) : new RewardsError(m.message, m.exitCode);
        if (m.stack) err.stack = m.stack;
        reject(err);
      }
    });
    worker.on('error', (err) => {
      settled = true;
      reject(err);
    });
    worker.on('exit', (code) => {
      if (!settled) reject(new Error(`the export's helper thread stopped (exit code ${code}) before writing its files`));
    });
  });
  // Not every export waits for the result (see waitOpened): its failure is then nobody's to report.
  result.catch(() => {});
  return {
    start: (job, onProgress) => {
      progress = onProgress;
      worker.postMessage(job);
    },
    waitOpened: () => {
      Atomics.wait(opened, 0, 0, 60_000);
      return Atomics.load(opened, 0) === OPENED;
    },
    result,
    stop: async () => {
      settled = true;
      await worker.terminate();
    },
  };
}
