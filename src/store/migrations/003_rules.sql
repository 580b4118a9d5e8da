-- Grants a campaign's last run left over budget. The next incremental run puts them back in budget
-- order with the new earnings of the members whose activity changed (those members' own are
-- recomputed), so a grant waiting over budget is granted once the budget allows it, without a full
-- evaluation of every member.

CREATE TABLE campaign_over_budget (
  campaign_id TEXT    NOT NULL,
  rule_id     TEXT    NOT NULL,
  user_id     TEXT    NOT NULL,
  seq         INTEGER NOT NULL,
  earned_on   TEXT    NOT NULL,
  PRIMARY KEY (campaign_id, rule_id, user_id, seq)
) WITHOUT ROWID;
