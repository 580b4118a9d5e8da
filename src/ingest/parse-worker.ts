/** The worker thread behind parseChunksInWorker(): runs parseChunks() and posts the chunks back. */
import { parentPort, workerData } from 'node:worker_threads';
import type { EventRow } from '../store/ingest.js';
import { packEvents, type WorkerInput, type WorkerMessage } from './parallel-parse.js';
import { parseChunks } from './parse.js';

const port = parentPort!;
const { src, opts, ahead } = workerData as WorkerInput;

// Each chunk posted takes a credit; the consumer returns one per chunk it takes ('next').
let credits = ahead;
let wake: (() => void) | null = null;
port.on('message', () => {
  credits++;
  wake?.();
  wake = null;
});

for await (const c of parseChunks(src, opts)) {
  while (credits <= 0) await new Promise<void>((r) => (wake = r));
  credits--;
  const rows = opts.kind === 'events' ? packEvents(c.rows as EventRow[]) : c.rows;
  // The lengths' buffer moves to the other thread instead of being copied.
  const transfer = 'meta' in rows ? [rows.meta.buffer as ArrayBuffer] : [];
  port.postMessage({ chunk: { ...c, rows } } satisfies WorkerMessage, transfer);
}
port.postMessage({ done: true } satisfies WorkerMessage);
port.close();
