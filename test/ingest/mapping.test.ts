/** Field paths and mappings: parsing paths as users write them, and reading records by them. */
import { describe, expect, it } from 'vitest';
import { BUILTIN_SOURCES, SourceSchema } from '../../src/config/sources.js';
import { buildMapping, extract, PathsSeen } from '../../src/ingest/mapping.js';
import { formatPath, parsePath, valueAt } from '../../src/util/json-path.js';

describe('field paths', () => {
  it('dots, brackets with either quote, escapes', () => {
    expect(parsePath('userId')).toEqual(['userId']);
    expect(parsePath('context.timezone')).toEqual(['context', 'timezone']);
    expect(parsePath('properties["$insert_id"]')).toEqual(['properties', '$insert_id']);
    expect(parsePath("device['time_zone_offset_seconds']")).toEqual(['device', 'time_zone_offset_seconds']);
    expect(parsePath('a["b.c"].d')).toEqual(['a', 'b.c', 'd']);
    expect(parsePath('a["say \\"hi\\""]')).toEqual(['a', 'say "hi"']);
  });
  it('mistakes are named, with where', () => {
    expect(parsePath('context..tz')).toEqual({ error: '"context..tz" is not a field path: an empty name at 9 (write e.g. context.timezone or properties["$insert_id"])' });
    expect(parsePath('a.')).toMatchObject({ error: expect.stringContaining('it ends with "."') });
    expect(parsePath('a[b]')).toMatchObject({ error: expect.stringContaining('"[" at 2 must be followed by a quoted name') });
    expect(parsePath('a["b"')).toMatchObject({ error: expect.stringContaining('has no closing "]') });
    expect(parsePath('')).toMatchObject({ error: expect.stringContaining('it is empty') });
  });
  it('formats back to what parses to the same names', () => {
    for (const p of [['context', 'timezone'], ['properties', '$insert_id'], ['a', 'b.c', 'd']]) expect(parsePath(formatPath(p))).toEqual(p);
    expect(formatPath(['properties', '$insert_id'])).toBe('properties["$insert_id"]');
  });
  it('own properties only: a record\'s __proto__ is data', () => {
    const rec = JSON.parse('{"__proto__": {"x": 1}, "a": {"b": 2}}') as unknown;
    expect(valueAt(rec, ['__proto__', 'x'])).toBe(1);
    expect(valueAt(rec, ['constructor'])).toBeUndefined();
    expect(valueAt(rec, ['a', 'b', 'c'])).toBeUndefined();
    expect(valueAt({ a: [1] }, ['a', '0'])).toBeUndefined();
  });
});

describe('mappings', () => {
  it('the presets are valid sources', () => {
    for (const def of Object.values(BUILTIN_SOURCES)) expect(SourceSchema.parse(def)).toEqual(def);
    expect(Object.keys(BUILTIN_SOURCES)).toEqual(['segment', 'amplitude', 'mixpanel', 'ga4']);
  });

  it('Mixpanel: the rest of properties, without the keys mapped from it', () => {
    const m = buildMapping('events', { name: 'mixpanel', def: BUILTIN_SOURCES.mixpanel! }, {});
    const seen = new PathsSeen(m);
    const rec = { event: 'data_logged', properties: { time: 1772515800, distinct_id: 'u1', $insert_id: 'i1', $os: 'iOS', source: 'app' } };
    expect(extract(m, rec, seen)).toEqual({
      fields: { event_id: 'i1', user_id: 'u1', event_type: 'data_logged', occurred_at: 1772515800, properties: { $os: 'iOS', source: 'app' } },
    });
  });

  it('GA4: typed parameters; a broken parameter list rejects the record', () => {
    const m = buildMapping('events', { name: 'ga4', def: BUILTIN_SOURCES.ga4! }, {});
    const seen = new PathsSeen(m);
    const params = [
      { key: 's', value: { string_value: 'x', int_value: null } },
      { key: 'i', value: { int_value: '42' } },
      { key: 'big', value: { int_value: '9007199254740993' } },
      { key: 'd', value: { double_value: 1.5 } },
      { key: 'none', value: { string_value: null } },
    ];
    expect(extract(m, { event_params: params }, seen).fields.properties).toEqual({ s: 'x', i: 42, big: '9007199254740993', d: 1.5, none: null });
    expect(extract(m, { event_params: 'x' }, seen).error).toBe('event_params: expected an array of {key, value}, got string');
    expect(extract(m, { event_params: [{ value: {} }] }, seen).error).toBe('event_params: expected an array of {key, value}, with a key in each');
  });

  it('alternatives: the first path a record has (null counts as absent when another follows)', () => {
    const m = buildMapping('events', { name: 'x', def: SourceSchema.parse({ fields: { user_id: ['user_id', 'user_pseudo_id'] } }) }, {});
    const seen = new PathsSeen(m);
    expect(extract(m, { user_id: null, user_pseudo_id: 'p1' }, seen).fields.user_id).toBe('p1');
    expect(extract(m, { user_id: 'u1', user_pseudo_id: 'p1' }, seen).fields.user_id).toBe('u1');
    expect(seen.found).toEqual([[2, 1]]);
  });

  it('--map over a source; a path no record has is a warning naming the likely one', () => {
    const m = buildMapping('events', { name: 'segment', def: BUILTIN_SOURCES.segment! }, { timezone: 'context.timezon' });
    expect(m.fields.find((f) => f.field === 'timezone')).toMatchObject({ from: ['context.timezon'], given: 'map' });
    const seen = new PathsSeen(m);
    seen.records++;
    extract(m, { messageId: 'm1', userId: 'u', event: 'e', timestamp: 't', properties: {}, context: { timezone: 'Asia/Tokyo', locale: 'ja-JP' } }, seen);
    expect(seen.warnings('f.ndjson', [])).toEqual(['f.ndjson: --map timezone=context.timezon, but no record has it (0 of 1); did you mean "context.timezone"?']);
  });
});
