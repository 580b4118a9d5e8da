/** The entry point: runs the CLI and exits with its code. */
import { main } from './cli.js';

// The only place that calls process.exit: after stdout has drained, so a piped `--json` is never cut short.
const code = await main(process.argv);
process.stdout.write('', () => process.exit(code));
