// Runs `rewards` commands in a worker thread, one at a time, for test/rules/ws.ts: the same Commander
// program and command actions as bin/rewards (dist/), without paying Node's and the modules' start-up
// for every call. The program is built as src/cli.ts builds it (for the commands these tests use) and
// errors become exit codes the same way. Process-level behaviour (exit status of the real binary,
// stdin, signals, the lock between processes) is tested with the real binary instead.
import { Command, CommanderError, Option } from 'commander';
import { workerData } from 'node:worker_threads';

const { dist, port, signal } = workerData;
const flag = new Int32Array(signal);
const { EXIT, RewardsError } = await import(`${dist}/errors.js`);
const modules = await Promise.all(['ingest', 'run', 'explain', 'report'].map((n) => import(`${dist}/commands/${n}.js`)));

function buildProgram() {
  const program = new Command('rewards')
    .addOption(new Option('--db <path>'))
    .addOption(new Option('--config <path>'))
    .option('--json')
    .option('--quiet')
    .exitOverride();
  for (const mod of modules) mod.register(program);
  for (const c of program.commands) c.exitOverride();
  return program;
}

async function main(args) {
  const program = buildProgram();
  try {
    await program.parseAsync(['node', 'rewards', ...args]);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.OK;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    if (err instanceof RewardsError) {
      process.stderr.write(`rewards: ${err.message}\n`);
      return err.exitCode;
    }
    process.stderr.write(`rewards: internal error: ${err?.stack ?? String(err)}\n`);
    return EXIT.BUG;
  }
}

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
