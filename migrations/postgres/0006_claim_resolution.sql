-- Fleet mode, version 6: when an alert's claim was resolved. A node that notices a condition
-- only after another node resolved it (its scan or its clock lagged) must not send the stale
-- firing as a new episode: a firing claims a resolved claim only if it was raised at or after
-- the resolution (whole seconds: a firing in the resolution's second is sent, never lost), and a
-- reminder never does.
ALTER TABLE alert_claims ADD COLUMN resolved_at timestamptz;
