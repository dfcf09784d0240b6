-- Fleet mode, version 5: the scheduled scan divided among the nodes.
-- One run per schedule slot and config (key: the config hash and the slot). The first node to
-- start it writes its items, each a batch of endpoints (indexes into the config's endpoint list,
-- which every node with this config hash reads alike). Nodes claim items with FOR UPDATE SKIP
-- LOCKED under a claim lease (a node that dies mid-batch leaves a claim that expires), mark them
-- done, and a run is over when every item is. A recheck item holds the endpoints one node could
-- not reach: another node scans them before they count as unreachable (`exclude` is the node
-- that failed; it takes its own recheck only when nobody else has, after `exclude_until`).
CREATE TABLE scan_runs (
    key     text PRIMARY KEY,
    created timestamptz NOT NULL
);

CREATE TABLE scan_items (
    id            bigserial PRIMARY KEY,
    run           text NOT NULL REFERENCES scan_runs (key) ON DELETE CASCADE,
    targets       integer[] NOT NULL,
    exclude       text,
    exclude_until timestamptz,
    claimed_by    text,
    claim_until   timestamptz,
    done_by       text
);
CREATE INDEX scan_items_open ON scan_items (run) WHERE done_by IS NULL;
