-- Members with grants left over budget by a campaign's last run. The next incremental run evaluates
-- them again together with the members whose activity changed, so a grant waiting over budget is
-- granted once the budget allows it, without a full evaluation of every member.

CREATE TABLE campaign_over_budget (
  campaign_id TEXT NOT NULL,
  user_id     TEXT NOT NULL,
  PRIMARY KEY (campaign_id, user_id)
) WITHOUT ROWID;
