/**
 * Sources: how an analytics vendor's export (or an app's own) maps onto an event's fields. The
 * built-in presets are plain data in the same shape as a config's `sources`, validated by the same
 * schema: a new vendor is a new entry here, not new code.
 */
import { z } from 'zod';
import { UsageError } from '../errors.js';
import { isValidTimeZone } from '../time/datetime.js';
import { parsePath } from '../util/json-path.js';
import { closest } from '../util/suggest.js';

const fieldPath = z.string({ error: 'expected a field path such as context.timezone' }).superRefine((s, ctx) => {
  const p = parsePath(s);
  if ('error' in p) ctx.addIssue({ code: 'custom', message: p.error });
});
/** One path, or several tried in order (the first a record has wins). */
const paths = z.union([fieldPath, z.array(fieldPath).min(1, 'expected at least one field path')]);

/** `object`: the object at that path; `*`: every top-level key not mapped; `path.*`: every key of that object not mapped. */
const propertiesPath = z.string().superRefine((s, ctx) => {
  if (s === '*') return;
  const p = parsePath(s.endsWith('.*') ? s.slice(0, -2) : s);
  if ('error' in p) ctx.addIssue({ code: 'custom', message: p.error });
});

export const SourceSchema = z
  .object({
    description: z.string().optional(),
    /** The records' format; a .zip holds files of it (default: from each file's name). */
    format: z.enum(['csv', 'tsv', 'ndjson']).optional(),
    fields: z
      .object({
        event_id: paths.optional(),
        user_id: paths.optional(),
        event_type: paths.optional(),
        occurred_at: paths.optional(),
        timezone: paths.optional(),
        /** The event's offset from UTC in seconds (e.g. GA4's device.time_zone_offset_seconds). */
        utc_offset: paths.optional(),
        properties: propertiesPath.optional(),
      })
      .strict()
      .prefault({}),
    /** An array of {key, value: {string_value | int_value | float_value | double_value}} (GA4's event_params), flattened into properties. */
    params: fieldPath.optional(),
    /** How occurred_at is written: an ISO 8601 date-time, or a Unix time in seconds, milliseconds or microseconds. Declared, never guessed. */
    time_unit: z.enum(['iso', 's', 'ms', 'us']).default('iso'),
    /**
     * The zone of date-times written without an offset (Amplitude's are UTC); without it, they are
     * wall-clock times in the event's zone. With a Unix time_unit: the zone whose wall clock the
     * numbers count (Mixpanel projects created before 2023 export their project time zone's).
     */
    naive_zone: z
      .string()
      .refine(isValidTimeZone, { error: (iss) => `${JSON.stringify(iss.input)} is not a known IANA time zone (e.g. UTC, America/New_York)` })
      .optional(),
    /** The nightly reads this subfolder of the events inbox with this source. */
    inbox: z
      .string()
      .regex(/^[a-z0-9][a-z0-9._-]*$/, 'expected a folder name (lowercase letters, digits, ".", "_" and "-")')
      .optional(),
    /** The nightly reads files of the events inbox whose name matches this pattern (`*` any characters, `?` one) with this source. */
    match: z.string().min(1, 'expected a file-name pattern such as segment-*.json.gz').optional(),
  })
  .strict();

export type SourceDef = z.output<typeof SourceSchema>;

/**
 * The vendors' documented export formats (README, "Sources"). Times: Segment writes ISO 8601 with
 * an offset; Amplitude's event_time is UTC without an offset; Mixpanel's raw export gives Unix
 * seconds; GA4's BigQuery export gives microseconds and the device's UTC offset.
 */
const PRESETS: Record<string, z.input<typeof SourceSchema>> = {
  segment: {
    description: 'Segment track events (S3 / warehouse export, gzipped JSON lines)',
    format: 'ndjson',
    fields: { event_id: 'messageId', user_id: 'userId', event_type: 'event', occurred_at: 'timestamp', timezone: 'context.timezone', properties: 'properties' },
  },
  amplitude: {
    description: 'Amplitude Export API (a zip of gzipped JSON-lines files; event_time in UTC without an offset)',
    format: 'ndjson',
    fields: { event_id: 'uuid', user_id: 'user_id', event_type: 'event_type', occurred_at: 'event_time', properties: 'event_properties' },
    naive_zone: 'UTC',
  },
  mixpanel: {
    description: 'Mixpanel raw event export (JSON lines; time in Unix seconds)',
    format: 'ndjson',
    fields: {
      event_id: 'properties["$insert_id"]',
      user_id: 'properties.distinct_id',
      event_type: 'event',
      occurred_at: 'properties.time',
      properties: 'properties.*',
    },
    time_unit: 's',
  },
  ga4: {
    description: 'Google Analytics 4 BigQuery export as JSON lines (event_timestamp in microseconds)',
    format: 'ndjson',
    fields: { user_id: 'user_id', event_type: 'event_name', occurred_at: 'event_timestamp', utc_offset: 'device.time_zone_offset_seconds' },
    params: 'event_params',
    time_unit: 'us',
  },
};

export const BUILTIN_SOURCES: Readonly<Record<string, SourceDef>> = Object.fromEntries(Object.entries(PRESETS).map(([name, def]) => [name, SourceSchema.parse(def)]));

/** A source by name: a built-in preset or one of the config's `sources`. */
export function findSource(name: string, configured: Readonly<Record<string, SourceDef>>): SourceDef {
  const def = configured[name] ?? BUILTIN_SOURCES[name];
  if (def) return def;
  const known = [...Object.keys(BUILTIN_SOURCES), ...Object.keys(configured)];
  const near = closest(name, known);
  throw new UsageError(`--source ${name}: no such source${near ? `; did you mean ${near}?` : ''}; sources are ${known.join(', ')} (define your own under "sources" in the config)`);
}
