/** A campaign's budget applied to what members earned: who is granted now, who waits. */
import type { Candidate } from '../rules/candidates.js';

export interface BudgetPlan {
  granted: Candidate[];
  overBudget: Candidate[];
}

/** Code-point order, the same on every machine and locale (unlike localeCompare). */
function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function compareCandidates(a: Candidate, b: Candidate): number {
  return cmp(a.earned_on, b.earned_on) || a.rule_index - b.rule_index || cmp(a.user_id, b.user_id) || a.seq - b.seq;
}

/**
 * Applies a campaign's budget: candidates are granted in order of (earned date, rule order,
 * user_id, seq) until the next one would not fit; that one and all after it are over budget, so a
 * later run grants them in the same order if the budget is raised.
 */
export function applyBudget(candidates: Candidate[], budgetCents: number | undefined, spentCents: number): BudgetPlan {
  const sorted = [...candidates].sort(compareCandidates);
  if (budgetCents === undefined) return { granted: sorted, overBudget: [] };
  let left = budgetCents - spentCents;
  let i = 0;
  for (; i < sorted.length; i++) {
    const amount = sorted[i]!.reward.amount_cents;
    if (amount > left) break;
    left -= amount;
  }
  return { granted: sorted.slice(0, i), overBudget: sorted.slice(i) };
}
