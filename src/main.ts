import { commandOf } from './command-line.js';

// An export's helper thread (src/export/helper.ts) takes about 50 ms to start and load its modules:
// started here, before the CLI and its parser load, it is ready about 30 ms sooner.
if (commandOf(process.argv.slice(2)) === 'export') (await import('./export/helper.js')).prestartHelper();
const { main } = await import('./cli.js');

// The only place that calls process.exit: after stdout has drained, so a piped `--json` is never cut short.
const code = await main(process.argv);
process.stdout.write('', () => process.exit(code));
