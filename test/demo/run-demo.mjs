#!/usr/bin/env node
// `npm start`: the nightly job on the bundled demo. Builds a fresh workspace in ./demo (git-ignored)
// from fixtures/demo, runs `rewards nightly` as cron would, then shows what it produced.
import { spawnSync } from 'node:child_process';
import { cpSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const fixture = join(root, 'fixtures', 'demo');
const work = join(root, 'demo');
const bin = join(root, 'bin', 'rewards');
const asOf = '2026-03-31';

// Demo keys only: real partner keys come from the environment of the cron job, never from git.
const env = { ...process.env, REWARDS_DB: join(work, 'rewards.db'), REWARDS_CONFIG: join(work, 'rewards.config.json') };
for (const line of readFileSync(join(fixture, 'demo.env'), 'utf8').split('\n')) {
  const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
  if (m) env[m[1]] = m[2];
}

function rewards(args, { show = true } = {}) {
  if (show) process.stdout.write(`\n$ rewards ${args.join(' ')}\n`);
  const r = spawnSync(bin, args, { env, stdio: ['ignore', 'inherit', 'inherit'] });
  return r.status ?? 1;
}

rmSync(work, { recursive: true, force: true });
cpSync(fixture, work, { recursive: true, filter: (src) => !src.endsWith('demo.env') });
console.log(`demo workspace: ${relative(process.cwd(), work) || '.'} (fresh copy of fixtures/demo)`);

const code = rewards(['nightly', '--as-of', asOf]);
console.log(`\nnightly exit code: ${code}`);

const list = (dir) => {
  try {
    // Hidden entries are the export's staging folders behind the `<as-of>` links: not for the reader.
    return readdirSync(dir, { recursive: true })
      .map(String)
      .filter((p) => !p.split('/').some((part) => part.startsWith('.')))
      .sort();
  } catch {
    return [];
  }
};
console.log(`\ngrant files in ${relative(root, join(work, 'out', 'grants'))}/:`);
for (const f of list(join(work, 'out', 'grants'))) console.log(`  ${f}`);
console.log(`\nexport folders in ${relative(root, join(work, 'out', 'outbox'))}/:`);
for (const f of list(join(work, 'out', 'outbox'))) console.log(`  ${f}`);

rewards(['report', '--as-of', asOf]);
rewards(['explain', '--user', 'm0003', '--as-of', asOf]);
console.log(`\nTry: REWARDS_DB=demo/rewards.db REWARDS_CONFIG=demo/rewards.config.json bin/rewards status`);
process.exit(code);
