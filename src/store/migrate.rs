//! Ordered schema migrations, kept as one file each in the top-level `migrations/` directory.
//!
//! At open, the store reads `meta/schema_version` (absent means 0, a new store), refuses a
//! version newer than this build knows, and applies each later migration in order. Every
//! migration runs in one sled transaction together with its version bump and is flushed before
//! the next starts, so a crash leaves the store at a whole version, never between two.

use std::path::Path;

use crate::store::StoreError;

#[cfg(test)]
#[path = "fixtures.rs"]
mod fixtures;
#[path = "../../migrations/0001_initial.rs"]
mod m0001_initial;
#[path = "../../migrations/0002_split_chains.rs"]
mod m0002_split_chains;
#[path = "../../migrations/0003_managed.rs"]
mod m0003_managed;
#[path = "../../migrations/0004_alerts.rs"]
mod m0004_alerts;
#[path = "../../migrations/0005_audit.rs"]
mod m0005_audit;
#[path = "../../migrations/0006_rows.rs"]
mod m0006_rows;
#[path = "../../migrations/0007_issuers.rs"]
mod m0007_issuers;
#[path = "../../migrations/schema6.rs"]
mod schema6;

/// A migration's body: receives the database, returns a reason on failure.
type Up = fn(&sled::Db) -> Result<(), String>;

/// `(version reached, name, body)`, in order.
const MIGRATIONS: &[(u32, &str, Up)] = &[
    (1, "initial", m0001_initial::up),
    (2, "split_chains", m0002_split_chains::up),
    (3, "managed", m0003_managed::up),
    (4, "alerts", m0004_alerts::up),
    (5, "audit", m0005_audit::up),
    (6, "rows", m0006_rows::up),
    (7, "issuers", m0007_issuers::up),
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = 7;

const VERSION_KEY: &[u8] = b"schema_version";

/// Reads the schema version of an open database (0 for a new one).
pub fn version(db: &sled::Db) -> Result<u32, String> {
    let meta = db.open_tree("meta").map_err(|e| e.to_string())?;
    match meta.get(VERSION_KEY).map_err(|e| e.to_string())? {
        None => Ok(0),
        Some(v) => {
            let bytes: [u8; 4] = v
                .as_ref()
                .try_into()
                .map_err(|_| format!("schema_version has {} bytes, expected 4", v.len()))?;
            Ok(u32::from_be_bytes(bytes))
        }
    }
}

/// Writes the schema version (called by migrations inside their transaction scope).
pub(super) fn set_version(db: &sled::Db, version: u32) -> Result<(), String> {
    let meta = db.open_tree("meta").map_err(|e| e.to_string())?;
    meta.insert(VERSION_KEY, &version.to_be_bytes())
        .map_err(|e| e.to_string())?;
    Ok(())
}

pub fn run(db: &sled::Db, path: &Path) -> Result<(), StoreError> {
    let found = version(db).map_err(|reason| StoreError::Corrupt {
        path: path.to_path_buf(),
        tree: "meta",
        key: "schema_version".into(),
        reason,
    })?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for (to, name, up) in MIGRATIONS.iter().filter(|(to, _, _)| *to > found) {
        let from = to - 1;
        let fail = |reason: String| StoreError::Migration {
            path: path.to_path_buf(),
            from,
            to: *to,
            reason,
        };
        up(db).map_err(&fail)?;
        db.flush().map_err(|e| fail(e.to_string()))?;
        if found > 0 {
            tracing::info!(store = %path.display(), from, to, name, "migrated store schema");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    /// sled releases its file lock when its background threads let go of a dropped database,
    /// a moment after `drop`: retry opening within the same process for a while.
    pub(super) fn retry<T, E: std::fmt::Debug>(f: impl Fn() -> Result<T, E>) -> T {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match f() {
                Ok(v) => return v,
                Err(e)
                    if std::time::Instant::now() < deadline
                        && format!("{e:?}").to_lowercase().contains("lock") =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => panic!("{e:?}"),
            }
        }
    }

    /// A schema-1 store, as certctl 0.1 wrote it: JSON records with the chain inline.
    const V1_FIXTURE: &str = include_str!("../../tests/fixtures/store-v1.json");

    fn write_v1_fixture(path: &Path) {
        let fixture: serde_json::Value = serde_json::from_str(V1_FIXTURE).expect("fixture json");
        let db = sled::open(path).expect("raw sled");
        let locations = db.open_tree("locations").expect("tree");
        for (id, record) in fixture["locations"].as_object().expect("object") {
            let json = serde_json::to_vec(record).expect("json");
            locations.insert(id.as_bytes(), json).expect("insert");
        }
        set_version(&db, 1).expect("version");
        db.flush().expect("flush");
    }

    #[test]
    fn migrates_a_v1_fixture() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("store");
        write_v1_fixture(&path);
        let store = retry(|| Store::open(&path));
        let all = store.locations().expect("locations");
        assert_eq!(all.len(), 2);
        let web = all
            .iter()
            .find(|r| r.name.as_deref() == Some("web"))
            .expect("web record");
        let leaf = web.leaf.as_ref().expect("leaf moved out of chain");
        assert_eq!(leaf.serial, "1a2b");
        assert_eq!(store.chain(&web.id).expect("chain").len(), 2);
        drop(store);
        let db = retry(|| sled::open(&path));
        assert_eq!(version(&db), Ok(SCHEMA_VERSION));
    }

    /// A schema-6 store as certctl wrote it before schema 7: frozen record and row types, and a
    /// chain whose intermediate has expired. Schema 7 must fill in the path's certificates so
    /// the location turns critical without a rescan.
    #[test]
    fn migrates_a_v6_store_and_judges_its_intermediates() {
        use crate::model::{ChainCert, FindingCode, Location};
        use crate::store::convert::Convert;
        use schema6::{V6Location, V6Row};

        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("store");
        let mut leaf = crate::model::tests::sample();
        leaf.not_before = 1_000;
        leaf.not_after = 4_000_000_000;
        leaf.issuer = "CN=Int".into();
        let mut int = crate::model::tests::sample();
        int.subject = "CN=Int".into();
        int.subject_cn = Some("Int".into());
        int.sha256 = "int".into();
        int.not_after = 2_000;
        let location = Location::Endpoint {
            host: "127.0.0.1".into(),
            port: 443,
            server_name: None,
        };
        let id = location.id();
        let old = V6Location {
            id: id.clone(),
            location: location.convert(),
            name: Some("old".into()),
            labels: vec![],
            first_seen: 1,
            last_scanned: 2,
            leaf_since: Some(1),
            leaf: Some(leaf.clone().convert()),
            tls: None,
            findings: vec![],
            consecutive_failures: 0,
        };
        let row = V6Row {
            id: id.clone(),
            target: "127.0.0.1:443".into(),
            name: Some("old".into()),
            subject: Some("a".into()),
            issuer: None,
            validity: Some((leaf.not_before, leaf.not_after)),
            codes: vec![],
        };
        {
            let db = sled::open(&path).expect("raw sled");
            for tree in ["locations", "chains", "rows"] {
                db.open_tree(tree).expect("tree");
            }
            let t = |n: &str| db.open_tree(n).expect("tree");
            t("locations")
                .insert(id.as_bytes(), super::super::codec::encode(&old))
                .expect("insert");
            t("chains")
                .insert(
                    id.as_bytes(),
                    super::super::codec::put(&vec![leaf, int.clone()]),
                )
                .expect("insert");
            t("rows")
                .insert(id.as_bytes(), super::super::codec::encode(&row))
                .expect("insert");
            // Every earlier migration has run: mark the trees they create as present.
            for tree in [
                "history", "events", "managed", "alerts", "outbox", "audit", "meta",
            ] {
                db.open_tree(tree).expect("tree");
            }
            set_version(&db, 6).expect("version");
            db.flush().expect("flush");
        }
        let store = retry(|| Store::open(&path));
        let record = store.location(&id).expect("read").expect("kept");
        assert_eq!(record.name.as_deref(), Some("old"));
        assert_eq!(record.issuers, vec![ChainCert::of(&int)]);
        let rows = store.rows().expect("rows");
        assert_eq!(rows.len(), 1);
        assert_eq!(
            rows[0].chain_validity,
            Some((int.not_before, int.not_after))
        );
        let view = crate::service::View::of(record, &crate::policy::Thresholds::default(), 10_000);
        assert!(
            view.findings
                .iter()
                .any(|f| f.code == FindingCode::ChainExpired)
        );
    }

    #[test]
    fn refuses_newer_schema() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("store");
        {
            let db = sled::open(&path).expect("raw");
            set_version(&db, SCHEMA_VERSION + 1).expect("version");
            db.flush().expect("flush");
        }
        let err = retry(|| match Store::open(&path) {
            Err(e @ StoreError::Locked { .. }) => Err(e),
            other => Ok(other),
        })
        .err()
        .expect("refused");
        assert!(matches!(err, StoreError::TooNew { found, .. } if found == SCHEMA_VERSION + 1));
        assert!(err.to_string().contains("upgrade certctl"), "{err}");
    }
}
