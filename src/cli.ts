import { Command, CommanderError, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { COMMAND_NAMES, type CommandName, commandOf } from './command-line.js';
import { EXIT, RewardsError } from './errors.js';

/** The one place that turns errors into exit codes (src/main.ts then exits with it). */
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

interface CommandModule {
  register(program: Command): void;
}

/**
 * Each command's module (help lists them in COMMAND_NAMES' order). Loaded on demand: each pulls in
 * its whole core (ingest parsers, rules, grant files...), and loading all of them cost any one
 * command's run about 60 ms of CPU at start-up (0.24 s against 0.18 s for what `export` needs).
 */
const COMMANDS: Record<CommandName, () => Promise<CommandModule>> = {
  ingest: () => import('./commands/ingest.js'),
  rejects: () => import('./commands/rejects.js'),
  run: () => import('./commands/run.js'),
  explain: () => import('./commands/explain.js'),
  report: () => import('./commands/report.js'),
  prune: () => import('./commands/prune.js'),
  status: () => import('./commands/status.js'),
  nightly: () => import('./commands/nightly.js'),
  export: () => import('./commands/export.js'),
  keygen: () => import('./commands/keygen.js'),
};

/**
 * The program with every command, or only with `only`: a program that will run one command parses
 * and helps the same with or without the others registered.
 */
export async function buildProgram(only: CommandName | null = null): Promise<Command> {
  const program = new Command('rewards')
    .description("Run a health app's member-incentive program: ingest exports, grant rewards, export de-identified data.")
    .version(pkg.version)
    .addOption(new Option('--db <path>', 'SQLite database (default: $REWARDS_DB, else ./rewards.db)'))
    .addOption(new Option('--config <path>', 'config file (default: $REWARDS_CONFIG, else ./rewards.config.json)'))
    .option('--json', 'print one JSON object on stdout, nothing else there')
    .option('--quiet', 'no progress or summaries on stderr (errors still print)')
    .configureHelp({ showGlobalOptions: true })
    .showSuggestionAfterError()
    .exitOverride();
  const names = only ? [only] : COMMAND_NAMES;
  const mods = await Promise.all(names.map((n) => COMMANDS[n]()));
  for (const mod of mods) mod.register(program);
  for (const c of program.commands) c.exitOverride().configureHelp({ showGlobalOptions: true });
  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    const program = await buildProgram(commandOf(argv.slice(2)));
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.OK;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here with code 0; commander already printed the message.
      return err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    }
    if (err instanceof RewardsError) {
      process.stderr.write(`rewards: ${err.message}\n`);
      return err.exitCode;
    }
    const e = err as Error;
    if (process.env.REWARDS_DEBUG === '1') process.stderr.write(`${e?.stack ?? String(err)}\n`);
    process.stderr.write(`rewards: internal error: ${e?.message ?? String(err)} (this is a bug; rerun with REWARDS_DEBUG=1 for a stack trace)\n`);
    return EXIT.BUG;
  }
}
