import type { Config } from '../config/schema.js';
import { UsageError } from '../errors.js';
import { addDays, isValidDate, todayInZone } from '../time/datetime.js';

/** --as-of, defaulting to yesterday in the config's timezone (the last complete local day). */
export function asOfOption(value: string | undefined, config: Config, flag = '--as-of'): string {
  if (value === undefined) return addDays(todayInZone(config.timezone), -1);
  if (!isValidDate(value)) throw new UsageError(`${flag} takes a date YYYY-MM-DD, not "${value}"`);
  return value;
}
