-- Partner exports read a partner's (consenting) members in user_id order with the fields they
-- generalise: with all of them in one index that read is a single range scan, without a lookup of
-- each member's table row (a third of the time of building a population).
CREATE INDEX members_export ON members (partner, share_consent, user_id, birth_date, zip, state);
