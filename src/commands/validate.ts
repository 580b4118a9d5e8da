/** `rewards validate`: every problem of a config at once, before it costs anything; no database needed. */
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { parseConfig, readConfigText } from '../config/load.js';
import { isPostgresUrl } from '../store/pg/connection.js';
import { dataWarnings } from '../views/data-warnings.js';
import { configProblems } from '../config/validate.js';
import { EXIT, ReportedError } from '../errors.js';
import { contextFrom, openStore, printJson, say, warn } from './context.js';

export function register(program: Command): void {
  program
    .command('validate')
    .description('check the config file: every problem at once, with line and column or its path, and a suggestion; no database needed')
    .addHelpText(
      'after',
      `
Examples:
  rewards validate
  rewards --config candidate.json validate
  rewards --config candidate.json validate --json | jq '.problems[] | .path'

Exit 0 when every command will accept the config, 78 when it has problems (each on stderr, or in
the --json object). With an existing database (--db, $REWARDS_DB, ./rewards.db) it also warns about
event types and \`where\` keys no stored event has, and campaigns with no activity in their window.`,
    )
    .action((_flags: unknown, cmd: Command) => {
      const ctx = contextFrom(cmd);
      const text = readConfigText(ctx.configPath)!;
      const problems = configProblems(text);
      // With a database (an existing one: validate never creates it), what the config asks of data it does not have.
      let warnings: string[] = [];
      if (problems.length === 0 && (isPostgresUrl(ctx.dbPath) || existsSync(ctx.dbPath))) {
        const db = openStore(ctx, { mustExist: true });
        try {
          warnings = dataWarnings(db, parseConfig(JSON.parse(text), ctx.configPath));
        } finally {
          db.close();
        }
      }
      if (ctx.json) printJson(ctx, { config: ctx.configPath, ok: problems.length === 0, problems, warnings });
      else {
        for (const p of problems) {
          const where = p.line !== null ? `${ctx.configPath}:${p.line}:${p.column}` : `${ctx.configPath}: ${p.path}`;
          warn(ctx, `${where}: ${p.message}${p.suggestion ? `; did you mean "${p.suggestion}"?` : ''}`);
        }
        for (const w of warnings) warn(ctx, `${ctx.configPath}: ${w}`);
      }
      if (problems.length) {
        if (!ctx.json) say(ctx, `${ctx.configPath}: ${problems.length} problem(s); fix them and run \`rewards validate\` again`);
        throw new ReportedError(EXIT.CONFIG);
      }
      if (!ctx.json) say(ctx, `${ctx.configPath}: valid`);
    });
}
