// Runs `rewards` commands in a worker thread, one at a time, for test/rules/ws.ts: the same Commander
// program, command actions and error handling as bin/rewards (dist/cli.js's main), without paying
// Node's and the modules' start-up for every call. Process-level behaviour (exit status of the real binary,
// stdin, signals, the lock between processes) is tested with the real binary instead.
import { workerData } from 'node:worker_threads';

const { dist, port, signal } = workerData;
const flag = new Int32Array(signal);
// The same program and error handling as bin/rewards: dist/cli.js has no side effects (dist/main.js exits).
const { main: cliMain } = await import(`${dist}/cli.js`);
const main = (args) => cliMain(['node', 'rewards', ...args]);

const capture = (sink) =>
  function write(chunk, encoding, cb) {
    sink.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    const done = typeof encoding === 'function' ? encoding : cb;
    if (done) queueMicrotask(() => done());
    return true;
  };

port.on('message', async ({ args, env }) => {
  const out = [];
  const errs = [];
  const saved = { out: process.stdout.write, err: process.stderr.write, env: { ...process.env } };
  process.stdout.write = capture(out);
  process.stderr.write = capture(errs);
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  process.exitCode = undefined;
  let code;
  try {
    code = await main(args);
  } finally {
    process.stdout.write = saved.out;
    process.stderr.write = saved.err;
    for (const k of Object.keys(process.env)) if (!(k in saved.env)) delete process.env[k];
    Object.assign(process.env, saved.env);
    process.exitCode = undefined;
  }
  port.postMessage({ code, stdout: out.join(''), stderr: errs.join('') });
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
});
