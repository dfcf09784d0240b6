-- Fleet mode, version 1: what the nodes coordinate through.
-- Applied by certctl at start, in one transaction under pg_advisory_xact_lock, so nodes starting
-- together on an empty database apply it once. Never edit a released migration: add the next.

-- Every lease token, fleet-wide: a later holder always has a larger token (fencing).
CREATE SEQUENCE fence_seq;

-- The nodes, each a `certctl run` process; instance tells two processes under one name apart.
CREATE TABLE nodes (
    name         text PRIMARY KEY,
    instance     text NOT NULL,
    version      text NOT NULL,
    config_hash  text NOT NULL,
    started_at   timestamptz NOT NULL,
    heartbeat_at timestamptz NOT NULL
);

-- Named leases ('coordinator', 'cert:<name>', ...), judged by the database clock only.
CREATE TABLE leases (
    name        text PRIMARY KEY,
    holder      text NOT NULL,
    token       bigint NOT NULL,
    acquired_at timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL
);

-- Shared records, each written under a lease and stamped with its token.
CREATE TABLE records (
    key        text PRIMARY KEY,
    value      bytea NOT NULL,
    lease      text NOT NULL,
    token      bigint NOT NULL,
    written_by text NOT NULL,
    updated_at timestamptz NOT NULL
);

-- One canary per key-encryption key: a node whose key file cannot open it refuses to start.
CREATE TABLE fleet_keys (
    kek_id     text PRIMARY KEY,
    ordinal    int NOT NULL UNIQUE,
    canary     bytea NOT NULL,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
