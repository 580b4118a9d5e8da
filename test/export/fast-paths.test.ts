import Database from 'better-sqlite3';
import { createHmac } from 'node:crypto';
import { join } from 'node:path';
import { stringify } from 'csv-stringify/sync';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli.js';
import { commandOf } from '../../src/command-line.js';
import { csvRecord, csvText, needsEscaping } from '../../src/export/csv.js';
import { neutraliseFormula, pseudonym, pseudonymiser, stateCode, yearOfDate, zip3 } from '../../src/export/deidentify.js';
import { RESTRICTED_ZIP3 } from '../../src/export/reference-data.js';
import { watchCommits } from '../../src/store/export.js';
import { parseDate } from '../../src/time/datetime.js';
import { tempDir } from '../helpers.js';

// The export replaced general-purpose code on its hot paths (node:crypto's HMAC per member, a regular
// expression and Date objects per birth date, csv-stringify per row): each fast path must give what
// the general code gives, for every input, not only for the ones the CLI tests happen to use.

describe('pseudonymiser', () => {
  const keys = [
    Buffer.from('unit-test-key-0123456789abcdefghijklmnop', 'utf8'),
    Buffer.from('k'),
    Buffer.alloc(64, 7), // exactly one block
    Buffer.alloc(65, 9), // longer than a block: hashed first
    Buffer.from('ключ-🔑-0123456789abcdef0123456789abcdef', 'utf8'),
  ];
  const messages: string[] = [];
  for (let n = 0; n <= 200; n++) messages.push('u'.repeat(n)); // every length around the 55/56 and 119/120 byte boundaries
  for (const c of ['é', '用', '😀', '\uD800', '\uDC00x', '\u0000']) for (const n of [1, 18, 19, 27, 28, 40]) messages.push(c.repeat(n));
  messages.push('Ünïcødé-用户', 'zqx-member-001', 'u0000001', '  spaced  ', 'a\nb', `x${'é'.repeat(30)}`);

  it('is createHmac(sha256) in lowercase hex for every message length and text, under every key length', () => {
    for (const key of keys) {
      const fast = pseudonymiser(key);
      for (const m of messages) expect(fast(m), JSON.stringify(m)).toBe(createHmac('sha256', key).update(m, 'utf8').digest('hex'));
    }
  });

  it('agrees with pseudonym() call after call (no state carried between messages)', () => {
    const key = keys[0]!;
    const fast = pseudonymiser(key);
    const order = [...messages].reverse().concat(messages.slice(0, 50));
    for (const m of order) expect(fast(m)).toBe(pseudonym(key, m));
  });
});

describe('de-identification fast paths', () => {
  it('yearOfDate is the year parseDate finds, or -1, for any text', () => {
    const inputs: string[] = [];
    // Every day of some years, leap and not, and of months with 28 to 31 days, plus the day after.
    for (const y of ['1900', '1996', '2000', '2023', '2024', '2100', '0000', '0004', '9999']) {
      for (let m = 0; m <= 13; m++) for (let d = 0; d <= 32; d++) inputs.push(`${y}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`);
    }
    inputs.push('', '2024-1-01', '2024-01-1', '2024/01/01', ' 2024-01-01', '2024-01-01 ', '2024-01-01\n', '+024-01-01', '２０２４-01-01');
    inputs.push('2024-01-01T00:00', '24-01-01', '2024-0a-01', '2024--1-01', '-024-01-01', '2024-01-0٣');
    for (const s of inputs) expect(yearOfDate(s), JSON.stringify(s)).toBe(parseDate(s)?.y ?? -1);
  });

  it('zip3 gives what its regular expression alone gives', () => {
    const reference = (z: string | null) => {
      const m = /^\s*(\d{3})\d{2}(?:-?\d{4})?\s*$/.exec(z ?? '');
      return !m ? '' : RESTRICTED_ZIP3.has(m[1]!) ? '000' : m[1]!;
    };
    const inputs: (string | null)[] = [null, '', '0', '1234', '123456', '12345-6789', '123456789', ' 12345', '1234a', '1234٥', '１２３４５'];
    for (let i = 0; i < 1000; i += 7) inputs.push(`${String(i).padStart(3, '0')}42`);
    for (const z of RESTRICTED_ZIP3) inputs.push(`${z}00`);
    for (const z of inputs) expect(zip3(z), JSON.stringify(z)).toBe(reference(z));
  });

  it('stateCode takes a code as it is only when trimming and upper-casing would not change it', () => {
    for (const s of ['MA', 'ma', ' MA', 'Ma', 'PR', 'XX', '']) expect(stateCode(s)).toBe(['MA', 'ma', ' MA', 'Ma'].includes(s) ? 'MA' : s === 'PR' ? 'PR' : '');
  });
});

describe('CSV dialect', () => {
  // Text cells that need nothing, a formula prefix, quotes, or both; numbers (never neutralised).
  const pieces = ['', 'a', '=', '+', '-', '@', '\t', '\r', '\n', ',', '"', "'", ' ', 'é', '=1,2', '"q"', 'a\r\nb', '-5', '0'];
  const texts: string[] = [];
  for (const a of pieces) for (const b of pieces) texts.push(a + b);

  it('csvText is csv-stringify of the neutralised cell, for every text', () => {
    for (const t of texts) expect(csvText(t), JSON.stringify(t)).toBe(stringify([[neutraliseFormula(t)]]).slice(0, -1));
  });

  it('needsEscaping says exactly when csvText changes a cell', () => {
    for (const t of texts) expect(needsEscaping(t), JSON.stringify(t)).toBe(csvText(t) !== t);
  });

  it('csvRecord is the record csv-stringify writes for the neutralised row, numbers as they are', () => {
    const rows: (string | number)[][] = [[...texts.slice(0, 40)], [1, -5, 0, 2.5, 'x', '-5', ''], ['', ''], [''], [-1]];
    for (const row of rows) {
      const reference = stringify([row.map((c) => (typeof c === 'string' ? neutraliseFormula(c) : c))]);
      expect(csvRecord(row)).toBe(reference);
    }
  });
});

describe('start-up: only the command that runs is loaded', () => {
  it('finds the command after the global options, and nothing when unsure', () => {
    expect(commandOf(['export', '--partner', 'acme'])).toBe('export');
    expect(commandOf(['--db', 'x.db', '--config=c.json', '--json', '--quiet', 'export'])).toBe('export');
    expect(commandOf(['--db=x.db', 'ingest', 'f.csv'])).toBe('ingest');
    expect(commandOf(['--db', 'export', 'run'])).toBe('run'); // "export" is --db's value here
    for (const args of [[], ['--help'], ['-h'], ['--version'], ['help', 'export'], ['exprt'], ['--verbose', 'export'], ['--db']]) {
      expect(commandOf(args), JSON.stringify(args)).toBeNull();
    }
  });

  it('gives a command the same help alone as among all the others', async () => {
    const all = await buildProgram();
    for (const name of all.commands.map((c) => c.name())) {
      const alone = await buildProgram(name);
      expect(alone.commands.map((c) => c.name())).toEqual([name]);
      expect(alone.commands[0]!.helpInformation()).toBe(all.commands.find((c) => c.name() === name)!.helpInformation());
    }
  });
});

describe('watchCommits', () => {
  it("sees another connection's commit, and nothing when there was none", () => {
    const path = join(tempDir('rewards-watch-'), 'w.db');
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE t (x)');
    const reader = new Database(path, { readonly: true });
    const w = watchCommits(path);
    try {
      reader.prepare('SELECT count(*) FROM t').get();
      expect(w.changed()).toBe(false);
      db.prepare('INSERT INTO t VALUES (1)').run();
      expect(w.changed()).toBe(true);
    } finally {
      w.close();
      reader.close();
      db.close();
    }
  });
});
