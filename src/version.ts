/** The tool's version. */
import { readFileSync } from 'node:fs';

/** The tool's version, from package.json (shown by --version and written into export manifests). */
export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
