-- Ingest speed (issue 2's benchmark). The (user_id, local_date) index on events took an insert at a
-- random place for every event, a third of a large load's time. Nothing needs to find raw events by
-- member or date any more: rules, explain and exports read the rollups (daily_activity, kept by
-- ingest; source_activity, kept by runs and built from events in seq order), and a prune's delete
-- by date is a rare full scan. So events keep only the unique index on event_id, which dedup needs.
DROP INDEX IF EXISTS events_user_date;
