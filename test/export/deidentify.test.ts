import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  birthYear,
  birthYearBand,
  generaliseDate,
  keyFingerprint,
  neutraliseFormula,
  periodsBetween,
  pseudonym,
  stateCode,
  zip3,
} from '../../src/export/deidentify.js';
import { RESTRICTED_ZIP3 } from '../../src/export/reference-data.js';
import { MIN_KEY_CHARS, generateKey, partnerKey } from '../../src/export/key.js';
import { PartnerSchema } from '../../src/config/schema.js';
import { EXIT } from '../../src/errors.js';

const KEY = Buffer.from('unit-test-key-0123456789abcdefghijklmnop', 'utf8');

describe('pseudonym', () => {
  it('is the lowercase hex HMAC-SHA256 of the UTF-8 user id keyed with the key bytes', () => {
    for (const id of ['u1', 'Ünïcødé-用户', '', '12345']) {
      expect(pseudonym(KEY, id)).toBe(createHmac('sha256', KEY).update(Buffer.from(id, 'utf8')).digest('hex'));
      expect(pseudonym(KEY, id)).toMatch(/^[0-9a-f]{64}$/);
    }
  });

  it('is stable for a key and unrelated across keys', () => {
    const other = Buffer.from('another-key-0123456789abcdefghijklmnop', 'utf8');
    expect(pseudonym(KEY, 'u1')).toBe(pseudonym(KEY, 'u1'));
    expect(pseudonym(KEY, 'u1')).not.toBe(pseudonym(other, 'u1'));
    expect(pseudonym(KEY, 'u1')).not.toBe(pseudonym(KEY, 'u2'));
  });

  it('fingerprint is the first 16 hex characters of sha256(key)', () => {
    expect(keyFingerprint(KEY)).toBe(createHash('sha256').update(KEY).digest('hex').slice(0, 16));
    expect(keyFingerprint(KEY)).not.toContain(KEY.toString('hex').slice(0, 8));
  });
});

describe('zip3', () => {
  it('keeps the first three digits of a ZIP or ZIP+4', () => {
    expect(zip3('02139')).toBe('021');
    expect(zip3('02139-4307')).toBe('021');
    expect(zip3('021394307')).toBe('021');
    expect(zip3(' 60614 ')).toBe('606');
  });

  it('gives 000 for every restricted three-digit area, and only for those', () => {
    const restricted = ['036', '059', '063', '102', '203', '556', '692', '790', '821', '823', '830', '831', '878', '879', '884', '890', '893'];
    expect([...RESTRICTED_ZIP3].sort()).toEqual(restricted);
    for (const z of restricted) expect(zip3(`${z}42`)).toBe('000');
    expect(zip3('03701')).toBe('037');
    expect(zip3('10001')).toBe('100');
  });

  it('gives an empty value for anything that is not a ZIP', () => {
    for (const z of [null, undefined, '', '2139', '021390', 'ABCDE', '02139-43', 'SW1A 1AA', '=1+2']) expect(zip3(z)).toBe('');
  });
});

describe('birthYear', () => {
  it('keeps the year of members younger than 90', () => {
    expect(birthYear('1985-07-04', '2026-04-30')).toBe('1985');
    expect(birthYear('1937-01-01', '2026-04-30')).toBe('1937');
  });

  it('top-codes members aged 90 or more on the as-of date', () => {
    expect(birthYear('1930-06-15', '2026-04-30')).toBe('90+');
    expect(birthYear('1936-04-30', '2026-04-30')).toBe('90+'); // 90th birthday on the as-of date
    expect(birthYear('1900-01-01', '2026-04-30')).toBe('90+');
  });

  it('also top-codes those who turn 90 later in the as-of year, so the year never hints at the birthday', () => {
    // 89 on 2026-04-30, 90 on 2026-05-01: a year of 1936 next to the 90+ of other 1936 births would say "birthday after April 30".
    expect(birthYear('1936-05-01', '2026-04-30')).toBe('90+');
    expect(birthYear('1936-12-31', '2026-04-30')).toBe('90+');
  });

  it('gives an empty value for a missing, invalid or future birth date', () => {
    expect(birthYear(null, '2026-04-30')).toBe('');
    expect(birthYear('1985-02-30', '2026-04-30')).toBe('');
    expect(birthYear('2030-01-01', '2026-04-30')).toBe('');
  });

  it('bands exported years by decade', () => {
    expect(birthYearBand('1985')).toBe('1980-1989');
    expect(birthYearBand('2000')).toBe('2000-2009');
    expect(birthYearBand('90+')).toBe('90+');
    expect(birthYearBand('')).toBe('unknown');
  });
});

describe('dates', () => {
  it('generalises to year, month or day', () => {
    expect(generaliseDate('2026-03-14', 'year')).toBe('2026');
    expect(generaliseDate('2026-03-14', 'month')).toBe('2026-03');
    expect(generaliseDate('2026-03-14', 'day')).toBe('2026-03-14');
    expect(generaliseDate('2026-02-30', 'year')).toBe('');
  });

  it('cuts a date range into periods clipped to the range', () => {
    expect(periodsBetween('2026-03-10', '2026-05-02', 'month')).toEqual([
      { period: '2026-03', start: '2026-03-10', end: '2026-03-31' },
      { period: '2026-04', start: '2026-04-01', end: '2026-04-30' },
      { period: '2026-05', start: '2026-05-01', end: '2026-05-02' },
    ]);
    expect(periodsBetween('2025-12-20', '2026-01-05', 'year')).toEqual([
      { period: '2025', start: '2025-12-20', end: '2025-12-31' },
      { period: '2026', start: '2026-01-01', end: '2026-01-05' },
    ]);
    expect(periodsBetween('2024-02-28', '2024-03-01', 'day').map((p) => p.period)).toEqual(['2024-02-28', '2024-02-29', '2024-03-01']);
    expect(periodsBetween('2026-03-01', '2026-02-28', 'year')).toEqual([]);
  });
});

describe('stateCode', () => {
  it('keeps USPS codes, uppercased, and drops anything else', () => {
    expect(stateCode('ma')).toBe('MA');
    expect(stateCode(' PR ')).toBe('PR');
    for (const s of [null, '', 'Massachusetts', 'XX', '=cmd', 'John Smith']) expect(stateCode(s)).toBe('');
  });
});

describe('neutraliseFormula', () => {
  it('prefixes cells a spreadsheet would run as a formula', () => {
    for (const c of ['=1+2', '+1', '-1', '@SUM(A1)', '\tx', '\rx', '=HYPERLINK("http://x")']) expect(neutraliseFormula(c)).toBe(`'${c}`);
  });

  it('leaves everything else alone', () => {
    for (const c of ['', 'GIFT-5', '90+', '2026-03', 'a=b', "'quoted", '021']) expect(neutraliseFormula(c)).toBe(c);
  });
});

describe('partner keys', () => {
  const partner = PartnerSchema.parse({ id: 'acme', key_env: 'REWARDS_KEY_ACME' });

  it('reads the UTF-8 bytes of the variable key_env names', () => {
    const v = 'k'.repeat(MIN_KEY_CHARS - 1) + 'é';
    expect(partnerKey({ REWARDS_KEY_ACME: v }, partner, 'partners[0]').equals(Buffer.from(v, 'utf8'))).toBe(true);
  });

  it('refuses a missing or short key with exit 78, without quoting the key', () => {
    for (const env of [{}, { REWARDS_KEY_ACME: '' }, { REWARDS_KEY_ACME: 'short-secret-value' }]) {
      try {
        partnerKey(env, partner, 'partners[0]');
        expect.unreachable();
      } catch (err) {
        expect((err as { exitCode: number }).exitCode).toBe(EXIT.CONFIG);
        expect((err as Error).message).toContain('REWARDS_KEY_ACME');
        expect((err as Error).message).not.toContain('short-secret-value');
      }
    }
  });

  it('generates 32 random bytes as base64', () => {
    const a = generateKey();
    expect(Buffer.from(a, 'base64')).toHaveLength(32);
    expect(a.length).toBeGreaterThanOrEqual(MIN_KEY_CHARS);
    expect(generateKey()).not.toBe(a);
  });
});
