//! The scheduled scan divided among the nodes: a work queue claimed with `FOR UPDATE SKIP
//! LOCKED`.
//!
//! Three nodes with one config would otherwise each scan every endpoint, three handshakes per
//! endpoint per run and no faster than one node. A run belongs to a schedule slot and a config
//! (its key); the first node to start it writes its items, batches of endpoints named by their
//! index in the config's endpoint list. Every node claims items under a claim lease until none
//! is left, so faster nodes take more and a node that dies mid-batch leaves a claim that lapses
//! and is taken again: each endpoint is judged once per run (twice only after such a lapse).
//!
//! A node that could not reach some endpoints queues them as a recheck that it may not claim
//! itself while another node can: an endpoint counts as unreachable only when a second vantage
//! agrees (FLEET.md, "scans").

use std::time::Duration;

use super::{Fleet, FleetError};

/// A claimed batch of endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanItem {
    pub id: i64,
    /// Indexes into the config's endpoint list.
    pub targets: Vec<usize>,
    /// A recheck of endpoints another node could not reach (`None`: a first look).
    pub recheck_of: Option<String>,
}

/// How long a finished run is kept (its key stops a late node from scanning the slot again).
const KEEP_RUNS: Duration = Duration::from_secs(2 * 24 * 3600);

fn seconds(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn indexes(targets: &[usize]) -> Vec<i32> {
    targets
        .iter()
        .map(|&t| i32::try_from(t).unwrap_or(i32::MAX))
        .collect()
}

impl Fleet {
    /// Opens scan run `key` with `batches` (each a list of endpoint indexes) unless it is open
    /// already; whether this node opened it. Runs older than two days go at the same time.
    pub async fn open_scan_run(
        &self,
        key: &str,
        batches: &[Vec<usize>],
    ) -> Result<bool, FleetError> {
        self.bounded(
            "drop old scan runs",
            self.client().execute(
                "DELETE FROM scan_runs WHERE created < clock_timestamp() - $1::float8 * interval '1 second'",
                &[&seconds(KEEP_RUNS)],
            ),
        )
        .await?;
        let texts: Vec<String> = batches
            .iter()
            .map(|b| {
                indexes(b)
                    .iter()
                    .map(i32::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect();
        let opened = self
            .bounded(
                "open a scan run",
                self.client().query_opt(
                    "WITH r AS (INSERT INTO scan_runs (key, created) VALUES ($1, clock_timestamp())
                                ON CONFLICT (key) DO NOTHING RETURNING key),
                          i AS (INSERT INTO scan_items (run, targets)
                                SELECT r.key, string_to_array(b, ',')::int[]
                                  FROM r, unnest($2::text[]) AS b)
                     SELECT key FROM r",
                    &[&key, &texts],
                ),
            )
            .await?;
        Ok(opened.is_some())
    }

    /// Claims the next item of run `key` for `hold`, skipping items other nodes hold; `None`
    /// when there is nothing to claim now (which does not mean the run is over: see
    /// [`Fleet::scan_items_open`]).
    pub async fn claim_scan_item(
        &self,
        key: &str,
        hold: Duration,
    ) -> Result<Option<ScanItem>, FleetError> {
        let row = self
            .bounded(
                "claim a scan batch",
                self.client().query_opt(
                    "UPDATE scan_items
                        SET claimed_by = $2,
                            claim_until = clock_timestamp() + $3::float8 * interval '1 second'
                      WHERE id = (SELECT id FROM scan_items
                                   WHERE run = $1 AND done_by IS NULL
                                     AND (claim_until IS NULL OR claim_until < clock_timestamp())
                                     AND (exclude IS NULL OR exclude <> $2
                                          OR exclude_until < clock_timestamp())
                                   ORDER BY id LIMIT 1
                                   FOR UPDATE SKIP LOCKED)
                      RETURNING id, targets, exclude",
                    &[&key, &self.node(), &seconds(hold)],
                ),
            )
            .await?;
        Ok(row.map(|r| ScanItem {
            id: r.get(0),
            targets: r
                .get::<_, Vec<i32>>(1)
                .into_iter()
                .filter_map(|t| usize::try_from(t).ok())
                .collect(),
            recheck_of: r.get(2),
        }))
    }

    /// Queues `targets` of run `key` for another node to look at: this node may take them
    /// itself only after `others_first`.
    pub async fn queue_recheck(
        &self,
        key: &str,
        targets: &[usize],
        others_first: Duration,
    ) -> Result<(), FleetError> {
        self.bounded(
            "queue a recheck",
            self.client().execute(
                "INSERT INTO scan_items (run, targets, exclude, exclude_until)
                 VALUES ($1, $2::int[], $3, clock_timestamp() + $4::float8 * interval '1 second')",
                &[
                    &key,
                    &indexes(targets),
                    &self.node(),
                    &seconds(others_first),
                ],
            ),
        )
        .await?;
        Ok(())
    }

    /// Marks item `id` done, if this node still holds its claim; whether it did.
    pub async fn finish_scan_item(&self, id: i64) -> Result<bool, FleetError> {
        let n = self
            .bounded(
                "finish a scan batch",
                self.client().execute(
                    "UPDATE scan_items SET done_by = $2
                      WHERE id = $1 AND claimed_by = $2 AND done_by IS NULL",
                    &[&id, &self.node()],
                ),
            )
            .await?;
        Ok(n == 1)
    }

    /// How many items of run `key` are not done (claimed or not).
    pub async fn scan_items_open(&self, key: &str) -> Result<i64, FleetError> {
        let row = self
            .bounded(
                "count open scan batches",
                self.client().query_one(
                    "SELECT count(*) FROM scan_items WHERE run = $1 AND done_by IS NULL",
                    &[&key],
                ),
            )
            .await?;
        Ok(row.get(0))
    }

    /// The endpoint records other nodes published since run `key` opened, in id order: up
    /// to `limit` of them after id `after` (a page; `""` for the first): (id, record JSON).
    pub async fn endpoints_scanned_since(
        &self,
        key: &str,
        after: &str,
        limit: usize,
    ) -> Result<Vec<(String, String)>, FleetError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .bounded(
                "read the run's endpoints",
                self.client().query(
                    "SELECT l.id, l.record::text
                       FROM fleet_locations l JOIN scan_runs r ON r.key = $1
                      WHERE l.scope = '' AND l.id > $3 AND l.node <> $2
                        AND l.scanned_at >= r.created
                      ORDER BY l.id LIMIT $4",
                    &[&key, &self.node(), &after, &limit],
                ),
            )
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}
