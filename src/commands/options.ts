/** Options several commands share (--as-of, --campaign), parsed and checked one way. */
import type { LoadedConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { UsageError } from '../errors.js';
import { addDays, isValidDate, todayInZone } from '../time/datetime.js';

/** Options several commands share, parsed and checked the same way everywhere. */

/** --as-of, defaulting to yesterday in the config's timezone (the last complete local day). */
export function asOfOption(value: string | undefined, config: Config, flag = '--as-of'): string {
  if (value === undefined) return addDays(todayInZone(config.timezone), -1);
  if (!isValidDate(value)) {
    throw new UsageError(
      /^\d{4}-\d\d-\d\d$/.test(value)
        ? `${flag} ${value}: there is no such day in the calendar; give a real date`
        : `${flag} takes a date YYYY-MM-DD, not "${value}"`,
    );
  }
  return value;
}

/** --campaign ID (repeatable): each must be a campaign of the config. */
export function campaignOption(ids: string[] | undefined, cfg: LoadedConfig): string[] {
  for (const id of ids ?? []) {
    if (!cfg.config.campaigns.some((c) => c.id === id)) {
      const known = cfg.config.campaigns.map((c) => c.id).join(', ') || '(none)';
      throw new UsageError(`--campaign ${id}: no such campaign in ${cfg.path ?? 'the config'}; campaigns are ${known}`);
    }
  }
  return ids ?? [];
}
