/** The program: every command registered, errors turned into exit codes. */
import { Command, CommanderError, Option } from 'commander';
import { readFileSync } from 'node:fs';
import * as completion from './commands/completion.js';
import * as deliverCommand from './commands/deliver.js';
import * as explain from './commands/explain.js';
import * as exportCommand from './commands/export.js';
import * as ingest from './commands/ingest.js';
import * as keygen from './commands/keygen.js';
import * as nightly from './commands/nightly.js';
import * as prune from './commands/prune.js';
import * as rejects from './commands/rejects.js';
import * as report from './commands/report.js';
import * as run from './commands/run.js';
import * as status from './commands/status.js';
import * as validate from './commands/validate.js';
import { EXIT, ReportedError, RewardsError } from './errors.js';
import { lastOpenedDatabase } from './store/db.js';
import { busyError } from './store/lock.js';
import { escapeText } from './util/escape.js';

/** The one place that turns errors into exit codes (src/main.ts then exits with it). */
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

/** The commands, in the order help lists them; each module registers its own. */
const COMMANDS: readonly { register(program: Command): void }[] = [ingest, rejects, run, explain, report, prune, status, nightly, exportCommand, deliverCommand, keygen, validate, completion];

export function buildProgram(): Command {
  const program = new Command('rewards')
    .description("Run a health app's member-incentive program: ingest exports, grant rewards, export de-identified data.")
    .version(pkg.version)
    .addOption(new Option('--db <path|url>', 'SQLite file, or postgres://user@host:port/dbname (default: $REWARDS_DB, else ./rewards.db)'))
    .addOption(new Option('--config <path>', 'config file (default: $REWARDS_CONFIG, else ./rewards.config.json)'))
    .option('--json', 'print one JSON object on stdout, nothing else there')
    .option('-q, --quiet', 'no progress or summaries on stderr (errors still print)')
    .configureHelp({ showGlobalOptions: true })
    .showSuggestionAfterError()
    .exitOverride();
  program.configureOutput({ outputError: (text, write) => write(parserError(text, 'rewards --help')) });
  for (const c of COMMANDS) c.register(program);
  for (const c of program.commands) {
    c.exitOverride()
      .configureHelp({ showGlobalOptions: true })
      .configureOutput({ outputError: (text, write) => write(parserError(text, `rewards ${c.name()} --help`)) });
  }
  return program;
}

/**
 * The option parser's errors in the tool's one voice: `rewards: what`, then what to do. Commander
 * writes "error: ..." and sometimes its own "(Did you mean ...?)" line, kept.
 */
function parserError(text: string, help: string): string {
  const lines = text.trim().replace(/^error: /, '').split('\n').map((l) => l.trim()).filter(Boolean);
  return `rewards: ${escapeText(lines.join(' '))}; see \`${help}\`\n`;
}

export async function main(argv: string[]): Promise<number> {
  try {
    const program = buildProgram();
    await program.parseAsync(argv);
    return EXIT.OK;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here with code 0; commander already printed the message.
      return err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    }
    const busy = (err as { code?: string })?.code?.startsWith('SQLITE_BUSY') && lastOpenedDatabase();
    if (busy) err = busyError(busy);
    if (err instanceof RewardsError) {
      if (!(err instanceof ReportedError)) process.stderr.write(`rewards: ${escapeText(err.message)}\n`);
      return err.exitCode;
    }
    const e = err as Error;
    if (process.env.REWARDS_DEBUG === '1') process.stderr.write(`${e?.stack ?? String(err)}\n`);
    process.stderr.write(`rewards: internal error: ${escapeText(e?.message ?? String(err))} (this is a bug; rerun with REWARDS_DEBUG=1 for a stack trace)\n`);
    return EXIT.BUG;
  }
}
