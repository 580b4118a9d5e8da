import { describe, expect, it } from 'vitest';
import { generalise, kAnonymise, type QiClass } from '../../src/export/kanon.js';

const c = (birth_year: string, zip3: string, state: string, count: number): QiClass => ({ birth_year, zip3, state, count });

describe('kAnonymise', () => {
  it('generalises in order: state, then zip3, then the birth year to its band, then nothing', () => {
    const q = { birth_year: '1985', zip3: '021', state: 'MA' };
    expect(generalise(q, 0)).toEqual(q);
    expect(generalise(q, 1)).toEqual({ birth_year: '1985', zip3: '021', state: '' });
    expect(generalise(q, 2)).toEqual({ birth_year: '1985', zip3: '', state: '' });
    expect(generalise(q, 3)).toEqual({ birth_year: '1980-1989', zip3: '', state: '' });
    expect(generalise(q, 4)).toEqual({ birth_year: '', zip3: '', state: '' });
  });

  it('leaves classes of k or more alone and generalises only the small ones, as far as they need', () => {
    const classes = [
      c('1985', '021', 'MA', 7), // big enough
      c('1985', '021', 'NH', 2), // merges with 1985/021 once the state goes ... but 1985/021/MA keeps its state
      c('1985', '021', 'CT', 3), // ... so NH and CT meet at 1985/021/'' (5 rows)
      c('1990', '606', 'IL', 1), // alone until its year is banded: 1990-1999 with 1992 below
      c('1992', '100', 'NY', 4),
    ];
    const r = kAnonymise(classes, 5);
    expect(r.mapped).toEqual([
      { birth_year: '1985', zip3: '021', state: 'MA' },
      { birth_year: '1985', zip3: '021', state: '' },
      { birth_year: '1985', zip3: '021', state: '' },
      { birth_year: '1990-1999', zip3: '', state: '' },
      { birth_year: '1990-1999', zip3: '', state: '' },
    ]);
    expect(r.generalised).toBe(2 + 3 + 1 + 4);
    expect(r.below_k).toBe(0);
  });

  it('merges a fully generalised remainder smaller than k with the smallest other groups', () => {
    const r = kAnonymise([c('1950', '590', 'MT', 1), c('2001', '946', 'CA', 6), c('1985', '021', 'MA', 5)], 5);
    // 1950 ends with nothing left and alone; the smallest other group (1985/021/MA, 5) joins it.
    expect(r.mapped).toEqual([
      { birth_year: '', zip3: '', state: '' },
      { birth_year: '2001', zip3: '946', state: 'CA' },
      { birth_year: '', zip3: '', state: '' },
    ]);
    expect(r.below_k).toBe(0);
  });

  it('says so when the whole population is smaller than k', () => {
    const r = kAnonymise([c('1985', '021', 'MA', 2), c('1990', '606', 'IL', 1)], 5);
    expect(r.mapped.every((m) => m.birth_year === '' && m.zip3 === '' && m.state === '')).toBe(true);
    expect(r).toMatchObject({ generalised: 3, below_k: 3 });
  });

  it('every combination it produces is shared by at least k rows, on random populations', () => {
    let seed = 42;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let round = 0; round < 50; round++) {
      const classes: QiClass[] = [];
      const seen = new Set<string>();
      for (let i = 0; i < 40; i++) {
        const q = c(String(1950 + rnd(50)), ['021', '606', '100', '000', ''][rnd(5)]!, ['MA', 'IL', 'NY', ''][rnd(4)]!, 1 + rnd(6));
        const key = `${q.birth_year}/${q.zip3}/${q.state}`;
        if (seen.has(key)) continue;
        seen.add(key);
        classes.push(q);
      }
      const k = 2 + rnd(8);
      const r = kAnonymise(classes, k);
      const groups = new Map<string, number>();
      r.mapped.forEach((m, i) => groups.set(`${m.birth_year}/${m.zip3}/${m.state}`, (groups.get(`${m.birth_year}/${m.zip3}/${m.state}`) ?? 0) + classes[i]!.count));
      for (const [key, n] of groups) expect(n, `k=${k} ${key}`).toBeGreaterThanOrEqual(k);
    }
  });
});
