/**
 * What a command line asks for, read before the CLI (commander and the commands) is loaded: the CLI
 * loads only the command it will run (src/cli.ts).
 */

/** The commands, in the order help lists them (src/cli.ts has a loader for each). */
export const COMMAND_NAMES = ['ingest', 'rejects', 'run', 'explain', 'report', 'prune', 'status', 'nightly', 'export', 'keygen'] as const;
export type CommandName = (typeof COMMAND_NAMES)[number];

const NAMES = new Set<string>(COMMAND_NAMES);

/** Global options that take a value: `--db X` and `--config X` (or `--db=X`). */
const VALUE_OPTIONS = new Set(['--db', '--config']);
const FLAG_OPTIONS = new Set(['--json', '--quiet']);

/**
 * The command a command line runs, when that is certain from the arguments before it (global
 * options only); null for help, version, a typo or anything unusual, which then get every command.
 */
export function commandOf(args: readonly string[]): CommandName | null {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (VALUE_OPTIONS.has(a)) i++;
    else if (FLAG_OPTIONS.has(a) || [...VALUE_OPTIONS].some((o) => a.startsWith(`${o}=`))) continue;
    else return !a.startsWith('-') && NAMES.has(a) ? (a as CommandName) : null;
  }
  return null;
}
