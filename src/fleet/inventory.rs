//! The fleet's inventory: each node publishes the locations it scanned, so that `certctl list`
//! on any node lists the whole fleet's from one query.
//!
//! An endpoint is one location fleet-wide (its row belongs to whichever node scanned it last);
//! a certificate file is each node's own, kept under the node's name as its scope. Rows and
//! records cross this boundary as JSON text made by the caller, so this module knows tables,
//! not certctl's model. Writes go in batches, each one bounded statement.

use super::{Fleet, FleetError};

/// A location as a node publishes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedLocation {
    /// `""` for a location every node shares (an endpoint), else the node's name.
    pub scope: String,
    pub id: String,
    /// The listing row, as JSON.
    pub row: String,
    /// The whole record, as JSON.
    pub record: String,
}

/// A location as the fleet lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedLocation {
    pub scope: String,
    /// The node that last published it.
    pub node: String,
    /// The listing row or the whole record (as asked), as JSON.
    pub json: String,
    /// Seconds since it was published, by the database clock.
    pub age: f64,
}

/// Rows per statement: well inside any statement timeout, few round trips for 100 000.
pub const BATCH: usize = 2_000;

impl Fleet {
    /// Publishes `locations` as scanned by this node now (each replaces the row it had, whoever
    /// published that).
    pub async fn publish_locations(
        &self,
        locations: &[PublishedLocation],
    ) -> Result<(), FleetError> {
        for batch in locations.chunks(BATCH) {
            let scopes: Vec<&str> = batch.iter().map(|l| l.scope.as_str()).collect();
            let ids: Vec<&str> = batch.iter().map(|l| l.id.as_str()).collect();
            let rows: Vec<&str> = batch.iter().map(|l| l.row.as_str()).collect();
            let records: Vec<&str> = batch.iter().map(|l| l.record.as_str()).collect();
            self.bounded(
                "publish the inventory",
                self.client().execute(
                    "INSERT INTO fleet_locations (scope, id, node, scanned_at, row, record)
                     SELECT s, i, $5, clock_timestamp(), r::jsonb, c::jsonb
                       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u(s, i, r, c)
                     ON CONFLICT (scope, id) DO UPDATE
                        SET node = excluded.node, scanned_at = excluded.scanned_at,
                            row = excluded.row, record = excluded.record",
                    &[&scopes, &ids, &rows, &records, &self.node()],
                ),
            )
            .await?;
        }
        Ok(())
    }

    /// Removes the locations this node published last that it no longer has (`keep`: the ids
    /// it has); returns how many.
    pub async fn prune_locations(&self, keep: &[&str]) -> Result<u64, FleetError> {
        self.bounded(
            "prune the inventory",
            self.client().execute(
                "DELETE FROM fleet_locations WHERE node = $1 AND NOT (id = ANY($2::text[]))",
                &[&self.node(), &keep],
            ),
        )
        .await
    }

    /// Every location in the fleet: listing rows, or whole records with `records`.
    pub async fn locations(&self, records: bool) -> Result<Vec<ListedLocation>, FleetError> {
        let sql = if records {
            "SELECT scope, node, record::text,
                    extract(epoch from clock_timestamp() - scanned_at)::float8
               FROM fleet_locations"
        } else {
            "SELECT scope, node, row::text,
                    extract(epoch from clock_timestamp() - scanned_at)::float8
               FROM fleet_locations"
        };
        let rows = self
            .bounded("list the inventory", self.client().query(sql, &[]))
            .await?;
        Ok(rows
            .iter()
            .map(|r| ListedLocation {
                scope: r.get(0),
                node: r.get(1),
                json: r.get(2),
                age: r.get(3),
            })
            .collect())
    }
}
