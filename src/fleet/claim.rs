//! Alert deliveries sent once fleet-wide.
//!
//! Every node scans, evaluates and queues its deliveries as a single node does; before it sends
//! one, it claims the delivery's key (webhook, alert id, kind) in the store. The first claimer
//! sends; the claim is a lease while it does (a node that dies mid-send leaves a claim that
//! expires, and the next node's retry sends), then it is marked sent and the other nodes settle
//! their copies as delivered elsewhere. The webhook-id comes from the key and the claim's
//! generation, so a retry from any node repeats it and receivers can drop duplicates.

use std::time::Duration;

use super::{Fleet, FleetError};

/// What claiming a delivery came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This node sends it; `generation` goes into the webhook-id.
    Mine { generation: i64 },
    /// Another node delivered it.
    Sent { by: String },
    /// Another node is sending it now: try again later.
    Busy { by: String },
}

/// When a firing was raised, as a claim judges it against a resolution of the same alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Raised {
    /// First sent for an alert raised at this time (seconds since the epoch).
    At(i64),
    /// A reminder of an alert still open on the sending node.
    Reminder,
}

fn seconds(d: Duration) -> f64 {
    d.as_secs_f64()
}

impl Fleet {
    /// Claims delivery `key` for `hold` (the send's timeout and a margin); a claim marked sent
    /// more than `fresh_for` ago is claimable again (the next reminder). `raised` is what a
    /// firing says about a resolved claim (see [`Raised`]); a resolution passes `None`.
    pub async fn claim_delivery(
        &self,
        key: &str,
        hold: Duration,
        fresh_for: Duration,
        raised: Option<Raised>,
    ) -> Result<Claim, FleetError> {
        // When the firing was raised, for a resolved claim (claimable if at or after its
        // resolution): none for a resolution; a reminder counts as raised before any.
        let since: Option<i64> = raised.map(|r| match r {
            Raised::At(at) => at,
            Raised::Reminder => i64::MIN,
        });
        let mine = self
            .bounded(
                "claim a delivery",
                self.client().query_opt(
                    "INSERT INTO alert_claims AS c (key, node, state, until, at, generation)
                     VALUES ($1, $2, 'sending',
                             clock_timestamp() + $3::float8 * interval '1 second',
                             clock_timestamp(),
                             (extract(epoch from clock_timestamp()) * 1000)::bigint)
                     ON CONFLICT (key) DO UPDATE
                        SET node = excluded.node, state = 'sending', until = excluded.until,
                            at = excluded.at,
                            generation = CASE WHEN c.state = 'sending' THEN c.generation
                                              ELSE excluded.generation END
                      WHERE (c.state = 'sending' AND c.until < clock_timestamp())
                         OR (c.state = 'sent'
                             AND c.at < clock_timestamp() - $4::float8 * interval '1 second')
                         OR (c.state = 'resolved'
                             AND ($5::bigint IS NULL OR c.resolved_at IS NULL
                                  OR $5::bigint >= floor(extract(epoch from c.resolved_at))::bigint))
                     RETURNING generation",
                    &[&key, &self.node(), &seconds(hold), &seconds(fresh_for), &since],
                ),
            )
            .await?;
        if let Some(row) = mine {
            return Ok(Claim::Mine {
                generation: row.get(0),
            });
        }
        let row = self
            .bounded(
                "read a delivery claim",
                self.client().query_opt(
                    "SELECT node, state FROM alert_claims WHERE key = $1",
                    &[&key],
                ),
            )
            .await?;
        Ok(match row {
            // Sent, or resolved before this firing was raised: the fleet is past it.
            Some(r) if matches!(r.get::<_, String>(1).as_str(), "sent" | "resolved") => {
                Claim::Sent { by: r.get(0) }
            }
            Some(r) => Claim::Busy { by: r.get(0) },
            // Gone between the two statements: nobody holds it; the next pass claims it.
            None => Claim::Busy { by: String::new() },
        })
    }

    /// The generation of claim `key`, if there is one (a resolution is keyed by the episode it
    /// ends).
    pub async fn claim_generation(&self, key: &str) -> Result<Option<i64>, FleetError> {
        let row = self
            .bounded(
                "read a delivery claim",
                self.client().query_opt(
                    "SELECT generation FROM alert_claims WHERE key = $1",
                    &[&key],
                ),
            )
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    /// Marks claim `key` resolved: its alert no longer holds, so its next firing is a new
    /// message (claimable at once), while the resolution, keyed by this claim's generation,
    /// is still sent once.
    pub async fn resolve_claim(&self, key: &str) -> Result<(), FleetError> {
        self.bounded(
            "resolve a delivery claim",
            self.client().execute(
                "UPDATE alert_claims SET state = 'resolved', resolved_at = clock_timestamp()
                  WHERE key = $1 AND state = 'sent'",
                &[&key],
            ),
        )
        .await?;
        Ok(())
    }

    /// Settles this node's claim on `key`: sent (the other nodes drop their copies), or given
    /// back so the next retry, from any node, may send.
    pub async fn settle_delivery(&self, key: &str, sent: bool) -> Result<(), FleetError> {
        let sql = if sent {
            "UPDATE alert_claims SET state = 'sent', at = clock_timestamp()
              WHERE key = $1 AND node = $2 AND state = 'sending'"
        } else {
            "UPDATE alert_claims SET until = clock_timestamp()
              WHERE key = $1 AND node = $2 AND state = 'sending'"
        };
        self.bounded(
            "settle a delivery claim",
            self.client().execute(sql, &[&key, &self.node()]),
        )
        .await?;
        Ok(())
    }
}
