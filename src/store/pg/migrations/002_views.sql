-- Views for analysts (README, "Database"): the joins the common questions need, written once.
-- The same views, column for column, as SQLite's migration 013.

-- One row per member and local day with counted activity, with the member's partner (as the member
-- record says now; NULL without one).
CREATE VIEW member_days AS
SELECT d.user_id, m.partner, d.local_date, count(*) AS event_types, sum(d.events) AS events
FROM daily_activity d LEFT JOIN members m ON m.user_id = d.user_id
GROUP BY d.user_id, m.partner, d.local_date;

-- Grants per partner (the member's partner now), campaign and rule.
CREATE VIEW grants_by_partner AS
SELECT m.partner, g.campaign_id, g.rule_id, g.currency,
       count(DISTINCT g.user_id) AS members, count(*) AS grants, sum(g.amount_cents) AS amount_cents
FROM grants g LEFT JOIN members m ON m.user_id = g.user_id
GROUP BY m.partner, g.campaign_id, g.rule_id, g.currency;

-- Per campaign and rule: what has been granted, over which dates, and what waits over budget.
CREATE VIEW campaign_progress AS
SELECT g.campaign_id, g.rule_id, g.currency, count(DISTINCT g.user_id) AS members, count(*) AS grants,
       sum(g.amount_cents) AS amount_cents, min(g.earned_on) AS first_earned_on, max(g.earned_on) AS last_earned_on,
       (SELECT count(*) FROM campaign_over_budget o WHERE o.campaign_id = g.campaign_id AND o.rule_id = g.rule_id) AS waiting_over_budget
FROM grants g
GROUP BY g.campaign_id, g.rule_id, g.currency;
