-- Fleet mode, version 3: each alert delivery sent once fleet-wide.
-- Every node evaluates its inventory and queues deliveries; before sending one, a node claims its
-- key (webhook, alert id, kind). The claim is a lease while it sends ('sending' until `until`),
-- then 'sent'; a 'sent' claim older than half the repeat interval is claimable again (a
-- reminder). `generation` is when the message was first claimed: with the key it makes the
-- webhook-id, the same on every retry from any node.
CREATE TABLE alert_claims (
    key        text PRIMARY KEY,
    node       text NOT NULL,
    state      text NOT NULL,
    until      timestamptz NOT NULL,
    at         timestamptz NOT NULL,
    generation bigint NOT NULL
);
