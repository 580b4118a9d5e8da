/**
 * The PostgreSQL connection's thread. The store is synchronous (better-sqlite3 is, and every caller
 * of the store is written against one engine interface), while node-postgres is asynchronous: this
 * thread owns the connection and answers one request at a time, and the main thread waits for each
 * answer (bridge.ts). A request is one round trip to the server, so set-based SQL and COPY, not a
 * request per row, are what keep this fast.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { Writable } from 'node:stream';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';

export type Request =
  | { op: 'query'; text: string; values: unknown[]; rowMode: 'array' | 'object' }
  | { op: 'exec'; text: string }
  | { op: 'copy'; text: string; data: string }
  | { op: 'close' };

export type Reply =
  | { ok: true; rows?: unknown[]; rowCount?: number }
  | { ok: false; message: string; code?: string; detail?: string; sql?: string };

interface WorkerData {
  port: MessagePort;
  flag: SharedArrayBuffer;
  connectionString: string;
  applicationName: string;
}

const data = workerData as WorkerData;
const flag = new Int32Array(data.flag);

// bigint (count, sums of integers, identity columns) and numeric as JavaScript numbers: every value
// the tool stores fits in 2^53, and the SQLite engine hands them over as numbers too.
pg.types.setTypeParser(20, (v) => Number(v));
pg.types.setTypeParser(1700, (v) => Number(v));

let client: pg.Client | null = null;
/** An error the connection reported between requests (the server went away): the next request fails with it. */
let broken: Error | null = null;

async function connect(): Promise<pg.Client> {
  if (broken) throw broken;
  if (client) return client;
  const c = new pg.Client({ connectionString: data.connectionString, application_name: data.applicationName });
  c.on('error', (err) => {
    broken = err;
  });
  await c.connect();
  client = c;
  return c;
}

async function handle(req: Request): Promise<Reply> {
  if (req.op === 'close') {
    const c = client;
    client = null;
    if (c) await c.end().catch(() => undefined);
    return { ok: true };
  }
  const c = await connect();
  switch (req.op) {
    case 'query': {
      const r =
        req.rowMode === 'array'
          ? await c.query({ text: req.text, values: req.values, rowMode: 'array' })
          : await c.query({ text: req.text, values: req.values });
      return { ok: true, rows: r.rows, rowCount: r.rowCount ?? 0 };
    }
    case 'exec': {
      if (!req.text) return { ok: true };
      const r = await c.query(req.text);
      // COMMIT of a transaction that had failed is answered ROLLBACK, not an error: make it one.
      if (/^COMMIT$/i.test(req.text) && (r as unknown as { command?: string }).command === 'ROLLBACK') {
        throw new Error('the transaction was rolled back: a statement in it had failed');
      }
      return { ok: true };
    }
    case 'copy': {
      const stream = c.query(copyFrom(req.text));
      await new Promise<void>((resolve, reject) => {
        stream.on('error', reject);
        stream.on('finish', resolve);
        (stream as Writable).end(req.data);
      });
      return { ok: true, rowCount: Number((stream as unknown as { rowCount: number }).rowCount ?? 0) };
    }
  }
}

/** Answers in order: the main thread counts answers (flag[0]) to know which of its requests are done. */
function reply(r: Reply): void {
  data.port.postMessage(r);
  Atomics.add(flag, 0, 1);
  Atomics.notify(flag, 0);
}

/**
 * Set when a request sent without waiting failed: every later request fails unrun until a ROLLBACK,
 * so that nothing sent after a failure (a later window's COMMIT) can commit past it.
 */
let poisoned: string | null = null;

async function handleInOrder(req: Request & { pipelined?: boolean }): Promise<Reply> {
  const rollback = req.op === 'exec' && /^ROLLBACK$/i.test(req.text);
  if (poisoned && !rollback && req.op !== 'close') return { ok: false, message: `not run: an earlier statement failed (${poisoned})` };
  try {
    const r = await handle(req);
    if (rollback) poisoned = null;
    return r;
  } catch (err) {
    if (req.pipelined) poisoned = (err as Error)?.message ?? String(err);
    throw err;
  }
}

// One request at a time, in the order sent: a posted COPY must be in before the merge that reads it.
let queue: Promise<void> = Promise.resolve();
data.port.on('message', (req: Request & { sql?: string; pipelined?: boolean }) => {
  queue = queue.then(() =>
    handleInOrder(req).then(
      (r) => reply(r),
      (err: unknown) => {
        const e = err as { message?: string; code?: string; detail?: string };
        reply({ ok: false, message: e?.message ?? String(err), code: e?.code, detail: e?.detail, sql: req.sql });
      },
    ),
  );
});

// Whatever escapes still answers the waiting main thread, which would otherwise wait forever.
process.on('uncaughtException', (err) => reply({ ok: false, message: `PostgreSQL connection thread failed: ${err.message}` }));
parentPort?.on('close', () => void client?.end().catch(() => undefined));
