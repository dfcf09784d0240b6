-- Fleet mode, version 4: the fleet's inventory, so `certctl list` on any node lists every node's.
-- Each node publishes the locations it scanned. An endpoint is one location fleet-wide (scope
-- ''): whichever node scanned it last holds its row. A file is each node's own (scope = the node
-- name): /etc/nginx/cert.pem on web-1 is not the file on web-2. `row` is the compact listing
-- row (what the table reads, so 100 000 of them list quickly), `record` the whole record (what
-- JSON and CSV print), both as certctl serialises them.
CREATE TABLE fleet_locations (
    scope      text NOT NULL,
    id         text NOT NULL,
    node       text NOT NULL,
    scanned_at timestamptz NOT NULL,
    row        jsonb NOT NULL,
    record     jsonb NOT NULL,
    PRIMARY KEY (scope, id)
);
CREATE INDEX fleet_locations_node ON fleet_locations (node);

-- A lease given up (released) is told apart from one that lapsed because its holder stopped:
-- a daemon takes over at once the renewal another node left unfinished.
ALTER TABLE leases ADD COLUMN released boolean NOT NULL DEFAULT false;
