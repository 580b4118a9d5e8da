/**
 * What a dry run costs, per campaign and rule: what is already granted, what this run would add
 * (and what it would leave over budget), and the total, in the rule's currency. The costing
 * question of a candidate config is both: the full cost over all history, and what is new.
 */
import type { Config } from '../config/schema.js';
import type { RunPlan } from '../grants/run.js';
import type { Db } from '../store/db.js';
import { ruleTotals } from '../store/campaigns.js';

export interface Amount {
  grants: number;
  amount_cents: number;
}

export interface RuleCost {
  campaign_id: string;
  rule_id: string;
  currency: string;
  already_granted: Amount;
  new: Amount;
  over_budget: Amount;
  /** Already granted plus new: the rule's cost over all history as of the date. */
  total: Amount;
}

const add = (a: Amount, cents: number): Amount => ({ grants: a.grants + 1, amount_cents: a.amount_cents + cents });

export function planCosts(db: Db, config: Config, plan: RunPlan): RuleCost[] {
  const out: RuleCost[] = [];
  for (const cp of plan.campaigns) {
    const c = config.campaigns.find((x) => x.id === cp.id)!;
    const stored = new Map(ruleTotals(db, c.id, plan.as_of).map((t) => [t.rule_id, t]));
    for (const rule of c.rules) {
      const zero = { grants: 0, amount_cents: 0 };
      let fresh = zero;
      let over = zero;
      for (const g of cp.granted) if (g.rule_id === rule.id) fresh = add(fresh, g.reward.amount_cents);
      for (const g of cp.overBudget) if (g.rule_id === rule.id) over = add(over, g.reward.amount_cents);
      const s = stored.get(rule.id);
      const already = { grants: s?.grants ?? 0, amount_cents: s?.amount_cents ?? 0 };
      out.push({
        campaign_id: c.id,
        rule_id: rule.id,
        currency: rule.reward.currency,
        already_granted: already,
        new: fresh,
        over_budget: over,
        total: { grants: already.grants + fresh.grants, amount_cents: already.amount_cents + fresh.amount_cents },
      });
    }
  }
  return out;
}
