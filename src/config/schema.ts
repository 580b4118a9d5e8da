/**
 * The config file (`rewards.config.json`), validated as a whole. Each section is read by one part of
 * the tool: `timezone` by ingest and run, `campaigns` by the rules, `partners` by export,
 * `retention` by prune, `paths` by whatever writes files. Relative paths are resolved against the
 * config file's folder (see config/load.ts).
 */
import { z } from 'zod';
import { DEFAULT_LIMITS } from './limits.js';
import { BUILTIN_SOURCES, SourceSchema } from './sources.js';
import { isValidDate, isValidTimeZone } from '../time/datetime.js';


const ID = /^[a-z0-9][a-z0-9-]*$/;
const id = z
  .string({ error: 'expected an id (text)' })
  .regex(ID, { error: (iss) => `${JSON.stringify(iss.input)} is not a valid id: use lowercase letters, digits and dashes, starting with a letter or digit` });

const date = z
  .string({ error: 'expected a date YYYY-MM-DD' })
  .refine(isValidDate, { error: (iss) => `${JSON.stringify(iss.input)} is not a valid date (expected YYYY-MM-DD)` });

const positiveInt = z.number({ error: 'expected a positive integer' }).int('expected a positive integer').positive('expected a positive integer');
const nonNegativeInt = z.number({ error: 'expected a non-negative integer' }).int('expected a non-negative integer').nonnegative('expected a non-negative integer');

export const RewardSchema = z
  .object({
    code: z.string().min(1, 'expected a reward code'),
    amount_cents: nonNegativeInt,
    currency: z.string().regex(/^[A-Z]{3}$/, 'expected a three-letter ISO 4217 currency code such as USD'),
  })
  .strict();

/** Each key a top-level property of the event; the value one allowed value or a list of them. */
const scalar = z.union([z.string(), z.number(), z.boolean()]);
export const WhereSchema = z.record(z.string(), z.union([scalar, z.array(scalar).min(1, 'expected at least one allowed value')]));

const ruleBase = {
  id,
  event_type: z.string().min(1, 'expected an event type'),
  where: WhereSchema.optional(),
  reward: RewardSchema,
  repeat: z.boolean().default(false),
  max_per_user: positiveInt.default(1),
};

export const RuleSchema = z.discriminatedUnion(
  'type',
  [
    z.object({ ...ruleBase, type: z.literal('first_event') }).strict(),
    z.object({ ...ruleBase, type: z.literal('streak'), days: positiveInt }).strict(),
    z.object({ ...ruleBase, type: z.literal('active_days'), min_days: positiveInt, window_days: positiveInt.optional() }).strict(),
    z.object({ ...ruleBase, type: z.literal('event_count'), min_events: positiveInt }).strict(),
  ],
  { error: (iss) => `unknown rule type ${JSON.stringify((iss.input as { type?: unknown })?.type)}; expected first_event, streak, active_days or event_count` },
);

export const CampaignSchema = z
  .object({
    id,
    name: z.string().default(''),
    start: date,
    end: date,
    grace_days: nonNegativeInt.default(7),
    eligible_partners: z.array(id).optional(),
    budget_cents: nonNegativeInt.optional(),
    rules: z.array(RuleSchema).min(1, 'a campaign needs at least one rule'),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.end < c.start) ctx.addIssue({ code: 'custom', path: ['end'], message: `${c.end} is before start ${c.start}` });
    c.rules.forEach((r, i) => {
      if (c.rules.findIndex((o) => o.id === r.id) !== i) ctx.addIssue({ code: 'custom', path: ['rules', i, 'id'], message: `duplicate rule id "${r.id}"` });
      if (r.type === 'active_days' && r.window_days !== undefined && r.min_days > r.window_days) {
        ctx.addIssue({ code: 'custom', path: ['rules', i, 'min_days'], message: `${r.min_days} is more than window_days ${r.window_days}` });
      }
    });
  });

export const PartnerSchema = z
  .object({
    id,
    name: z.string().optional(),
    key_env: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'expected the name of an environment variable, e.g. REWARDS_KEY_ACME'),
    campaigns: z.array(id).default([]),
    date_precision: z.enum(['year', 'month', 'day']).default('year'),
    safe_harbor: z.boolean().default(true),
    min_cell_size: positiveInt.default(11),
    require_consent: z.boolean().default(true),
    k_anonymity: positiveInt.default(5),
    // Where `rewards deliver` (and the nightly) sends this partner's exports (README, "rewards deliver").
    delivery: z
      .object({
        sftp: z
          .object({
            host: z.string().regex(/^(?!-)[A-Za-z0-9.:[\]-]+$/, 'expected a host name or address'),
            port: positiveInt.default(22),
            user: z.string().regex(/^(?!-)[A-Za-z0-9._-]+$/, 'expected a user name'),
            identity_file: z.string().min(1, 'expected the path of the private key (key authentication only)'),
            known_hosts: z.string().min(1, "expected the path of a known_hosts file pinning the server's key"),
            remote_dir: z.string().regex(/^[^\u0000-\u001f"\\]+$/, 'expected a folder path on the server').transform((d) => d.replace(/\/+$/, '') || '/'),
          })
          .strict(),
        pgp_recipient_key: z.string().min(1).optional(),
        retries: nonNegativeInt.default(3),
        retry_max_seconds: positiveInt.default(60),
        timeout_seconds: positiveInt.default(15),
      })
      .strict()
      .optional(),
    schedule: z.enum(['daily', 'weekly', 'monthly', 'yearly', 'on_close']).optional(),
  })
  .strict()
  .superRefine((p, ctx) => {
    // A Safe Harbor release carries data up to the end of the last complete year (README, "Releases"):
    // a schedule finer than that would send the same data files again and again.
    if (p.safe_harbor && p.schedule !== undefined && p.schedule !== 'yearly') {
      ctx.addIssue({
        code: 'custom',
        path: ['schedule'],
        message:
          `"${p.schedule}" is finer than this Safe Harbor partner's releases: each one carries data up to the end of the last complete year, ` +
          'so every export within a year repeats the same data files; use "yearly" (or omit it), or set "safe_harbor": false with a finer date_precision under an expert determination',
      });
    }
    if (p.date_precision !== 'year' && p.safe_harbor) {
      ctx.addIssue({
        code: 'custom',
        path: ['date_precision'],
        message: `"${p.date_precision}" is finer than HIPAA Safe Harbor allows; set "safe_harbor": false in this partner block (the export then needs an expert determination) or use "year"`,
      });
    }
  })
  .transform((p) => ({ ...p, schedule: p.schedule ?? (p.safe_harbor ? ('yearly' as const) : ('monthly' as const)) }));

export const ConfigSchema = z
  .object({
    timezone: z
      .string()
      .refine(isValidTimeZone, { error: (iss) => `${JSON.stringify(iss.input)} is not a known IANA time zone (e.g. America/New_York)` })
      .default('UTC'),
    paths: z
      .object({
        grants: z.string().min(1).default('out/grants'),
        outbox: z.string().min(1).default('out/outbox'),
        inbox: z.string().min(1).default('inbox'),
        archive: z.string().min(1).default('archive'),
      })
      .strict()
      .prefault({}),
    campaigns: z.array(CampaignSchema).default([]),
    partners: z.array(PartnerSchema).default([]),
    retention: z
      .object({ events_days: positiveInt.optional(), rejects_days: positiveInt.optional() })
      .strict()
      .prefault({}),
    // Export formats of the app's own pipeline, beside the built-in vendor presets (config/sources.ts, README "Sources").
    sources: z.record(id, SourceSchema).default({}),
    // What one input may make ingest do (src/ingest/limits.ts, README "Limits on input").
    limits: z
      .object({
        json_depth: positiveInt.default(DEFAULT_LIMITS.json_depth),
        properties_bytes: positiveInt.default(DEFAULT_LIMITS.properties_bytes),
        record_bytes: positiveInt.default(DEFAULT_LIMITS.record_bytes),
        gzip_ratio: positiveInt.default(DEFAULT_LIMITS.gzip_ratio),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .superRefine((c, ctx) => {
    const campaignIds = new Set<string>();
    c.campaigns.forEach((camp, i) => {
      if (campaignIds.has(camp.id)) ctx.addIssue({ code: 'custom', path: ['campaigns', i, 'id'], message: `duplicate campaign id "${camp.id}"` });
      campaignIds.add(camp.id);
    });
    for (const name of Object.keys(c.sources)) {
      if (BUILTIN_SOURCES[name]) ctx.addIssue({ code: 'custom', path: ['sources', name], message: `"${name}" is a built-in source; give yours another name` });
    }
    const inboxes = Object.entries(c.sources).filter(([, s]) => s.inbox !== undefined);
    inboxes.forEach(([name, s]) => {
      const other = inboxes.find(([n, o]) => n !== name && o.inbox === s.inbox);
      if (other && name > other[0]) ctx.addIssue({ code: 'custom', path: ['sources', name, 'inbox'], message: `sources ${other[0]} and ${name} both read inbox folder "${s.inbox}"` });
    });
    c.partners.forEach((p, i) => {
      if (c.partners.findIndex((o) => o.id === p.id) !== i) ctx.addIssue({ code: 'custom', path: ['partners', i, 'id'], message: `duplicate partner id "${p.id}"` });
      p.campaigns.forEach((cid, j) => {
        if (!campaignIds.has(cid)) ctx.addIssue({ code: 'custom', path: ['partners', i, 'campaigns', j], message: `unknown campaign "${cid}"` });
      });
    });
  });

export type Config = z.output<typeof ConfigSchema>;
export type Campaign = z.output<typeof CampaignSchema>;
export type Rule = z.output<typeof RuleSchema>;
export type Reward = z.output<typeof RewardSchema>;
export type Where = z.output<typeof WhereSchema>;
export type Partner = z.output<typeof PartnerSchema>;
export type { SourceDef } from './sources.js';
