/** "Did you mean": the nearest of a few known names to a misspelt one. */

/** Levenshtein distance, cut off above `max` (ids and keys are short). */
function distance(a: string, b: string, max: number): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/** The closest of `known` to `word` (case aside, at most a third of its letters off), or null. */
export function closest(word: string, known: Iterable<string>): string | null {
  let best: string | null = null;
  let bestD = Math.max(1, Math.floor(word.length / 3));
  for (const k of known) {
    if (k === word) continue;
    const d = k.toLowerCase() === word.toLowerCase() ? 0 : distance(word, k, bestD);
    if (d <= bestD && (best === null || d < bestD)) {
      best = k;
      bestD = d;
    }
  }
  return best;
}
