//! The fleet store's schema: SQL migrations from `migrations/postgres/`, applied at connect.
//!
//! Every node applies what is missing when it starts, in one transaction that first takes a
//! transaction-level advisory lock: nodes starting together on an empty database apply each
//! version exactly once, and a node killed mid-migration leaves nothing half-applied. A store
//! whose schema is newer than the binary is refused (an older node would misread newer rows),
//! as the embedded store does.

use super::{Fleet, FleetError};

/// One migration: its version, name and SQL.
struct Migration {
    version: i32,
    name: &'static str,
    sql: &'static str,
}

/// Every migration this binary knows, in order. Released migrations are never edited.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "fleet",
        sql: include_str!("../../migrations/postgres/0001_fleet.sql"),
    },
    Migration {
        version: 2,
        name: "deployments",
        sql: include_str!("../../migrations/postgres/0002_deployments.sql"),
    },
    Migration {
        version: 3,
        name: "alert_claims",
        sql: include_str!("../../migrations/postgres/0003_alert_claims.sql"),
    },
    Migration {
        version: 4,
        name: "inventory",
        sql: include_str!("../../migrations/postgres/0004_inventory.sql"),
    },
    Migration {
        version: 5,
        name: "scan_queue",
        sql: include_str!("../../migrations/postgres/0005_scan_queue.sql"),
    },
    Migration {
        version: 6,
        name: "claim_resolution",
        sql: include_str!("../../migrations/postgres/0006_claim_resolution.sql"),
    },
];

/// The schema version this binary writes.
pub const SCHEMA_VERSION: i32 = 6;

/// The advisory lock every migrating node takes (any constant no other tool uses: "certctl").
const MIGRATION_LOCK: i64 = 0x6365_7274_6374_6c00;

/// Brings the store to [`SCHEMA_VERSION`]; returns the version found before.
pub(super) async fn run(fleet: &mut Fleet) -> Result<i32, FleetError> {
    let node = fleet.node().to_string();
    let target = fleet.target().to_string();
    let timeout = fleet.timeout_for_migrations();
    let work = async {
        let client = fleet.client_mut();
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version    int PRIMARY KEY,
                 name       text NOT NULL,
                 applied_by text NOT NULL,
                 applied_at timestamptz NOT NULL DEFAULT clock_timestamp())",
        )
        .await?;
        let found: i32 = tx
            .query_one(
                "SELECT coalesce(max(version), 0) FROM schema_migrations",
                &[],
            )
            .await?
            .get(0);
        if found > SCHEMA_VERSION {
            return Ok(Err(found));
        }
        for m in MIGRATIONS.iter().filter(|m| m.version > found) {
            tx.batch_execute(m.sql).await?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_by) VALUES ($1, $2, $3)",
                &[&m.version, &m.name, &node],
            )
            .await?;
            tracing::info!(version = m.version, name = m.name, "fleet store migrated");
        }
        tx.commit().await?;
        Ok::<_, tokio_postgres::Error>(Ok(found))
    };
    match tokio::time::timeout(timeout, work).await {
        Err(_) => Err(FleetError::Timeout {
            target,
            action: "migrate the schema",
            seconds: timeout.as_secs(),
        }),
        Ok(Err(e)) => Err(fleet.query_error("migrate the schema", &e)),
        Ok(Ok(Err(found))) => Err(FleetError::NewerSchema {
            target,
            found,
            known: SCHEMA_VERSION,
        }),
        Ok(Ok(Ok(found))) => Ok(found),
    }
}

impl Fleet {
    /// Migrations wait for other nodes' migrations: a few statement bounds.
    fn timeout_for_migrations(&self) -> std::time::Duration {
        self.statement_timeout() * 6
    }
}
