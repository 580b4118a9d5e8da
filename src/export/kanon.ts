/**
 * k-anonymity for members.csv: the quasi-identifiers (birth_year, zip3, state) of every row are
 * generalised until each combination is shared by at least k rows, so that a partner who knows these
 * three facts about its own staff cannot single one of them out. Safe Harbor does not ask for this;
 * an employer knowing its staff is the reason to do it anyway.
 *
 * Generalisation is per combination (every row of a class is treated alike, so the result is a map
 * from combination to combination) and goes in steps, least useful detail first: the state is
 * dropped, then the zip3, then the birth year becomes its ten-year band, then it goes too. A class
 * still smaller than k after all four is merged with the smallest other classes until it is not.
 */
import { birthYearBand } from './deidentify.js';


export interface Qi {
  birth_year: string;
  zip3: string;
  state: string;
}

export interface QiClass extends Qi {
  count: number;
}

export interface KAnonymity {
  /** The generalised combination of each input class, in input order. */
  mapped: Qi[];
  /** Rows whose combination was changed. */
  generalised: number;
  /** Rows in classes smaller than k afterwards: non-zero only when the whole population is smaller than k. */
  below_k: number;
}

const MAX_LEVEL = 4;

/** A combination at a generalisation level (0: as it is ... 4: nothing left). */
export function generalise(q: Qi, level: number): Qi {
  if (level <= 0) return { birth_year: q.birth_year, zip3: q.zip3, state: q.state };
  const state = '';
  const zip3 = level >= 2 ? '' : q.zip3;
  const birth_year = level >= 4 ? '' : level >= 3 ? birthYearBand(q.birth_year) : q.birth_year;
  return { birth_year, zip3, state };
}

const keyOf = (q: Qi) => `${q.birth_year}\u0000${q.zip3}\u0000${q.state}`;

export function kAnonymise(classes: readonly QiClass[], k: number): KAnonymity {
  const level = classes.map(() => 0);
  // Each class's key at each level, made once: the loop below looks them up many times.
  const keys = classes.map(() => new Array<string | undefined>(MAX_LEVEL + 1));
  const keyAt = (i: number) => (keys[i]![level[i]!] ??= keyOf(generalise(classes[i]!, level[i]!)));
  const groups = () => {
    const g = new Map<string, { count: number; members: number[] }>();
    for (let i = 0; i < classes.length; i++) {
      const key = keyAt(i);
      let e = g.get(key);
      if (!e) g.set(key, (e = { count: 0, members: [] }));
      e.count += classes[i]!.count;
      e.members.push(i);
    }
    return g;
  };

  for (let changed = true; changed; ) {
    changed = false;
    for (const e of groups().values()) {
      if (e.count >= k) continue;
      for (const i of e.members) {
        if (level[i]! < MAX_LEVEL) {
          level[i]!++;
          changed = true;
        }
      }
    }
  }

  // Only the fully generalised class can still be small: merge the smallest others into it.
  const empty = keyOf({ birth_year: '', zip3: '', state: '' });
  for (;;) {
    const g = groups();
    const rest = g.get(empty);
    if (!rest || rest.count >= k) break;
    const others = [...g.entries()].filter(([key]) => key !== empty).sort((a, b) => a[1].count - b[1].count || (a[0] < b[0] ? -1 : 1));
    if (others.length === 0) break;
    for (const i of others[0]![1].members) level[i] = MAX_LEVEL;
  }

  const mapped = classes.map((c, i) => generalise(c, level[i]!));
  let generalised = 0;
  classes.forEach((c, i) => {
    if (level[i]! > 0 && keyAt(i) !== keyOf(c)) generalised += c.count;
  });
  let belowK = 0;
  for (const e of groups().values()) if (e.count < k) belowK += e.count;
  return { mapped, generalised, below_k: belowK };
}
