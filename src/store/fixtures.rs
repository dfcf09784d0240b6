//! Golden store fixtures: the raw bytes of every tree of a store written at each schema version
//! (`tests/fixtures/store-v6.json`, `store-v7.json`; schema 1 is `store-v1.json`), opened by the
//! tests below through [`Store::open`] and read back in full.
//!
//! Records are encoded by position (postcard): a field added to, removed from or moved in a
//! stored model type changes what today's code reads from yesterday's bytes. These fixtures turn
//! that into a failing test instead of stores reported `Corrupt` in the field: a change to a
//! stored type needs a schema bump, a migration that decodes the old bytes with frozen types
//! (as `migrations/schema6.rs` does), and a new fixture beside the old ones, which stay.
//!
//! A fixture is written once, by the build that introduces its schema:
//! `CERTCTL_WRITE_STORE_FIXTURE=7 cargo test --lib store_fixture`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::schema6::{V6Location, V6Row};
use super::{SCHEMA_VERSION, set_version};
use crate::inventory::fold;
use crate::model::{
    AlertCert, AlertEvent, AriState, CaProblem, EventKind, Finding, FindingCode, InFlight,
    InventoryEvent, OpenAlert, Severity,
};
use crate::store::alerts::AlertCommit;
use crate::store::schema7::{V7ListRow, V7LocationRecord};
use crate::store::tests::observation;
use crate::store::{Store, codec};

const T: i64 = 1_800_000_000;

/// A schema-7 record as schema 6 stored it (what it lacks, schema 7's migration fills in).
impl From<V7LocationRecord> for V6Location {
    fn from(r: V7LocationRecord) -> V6Location {
        V6Location {
            id: r.id,
            location: r.location,
            name: r.name,
            labels: r.labels,
            first_seen: r.first_seen,
            last_scanned: r.last_scanned,
            leaf_since: r.leaf_since,
            leaf: r.leaf,
            tls: r.tls,
            findings: r.findings,
            consecutive_failures: r.consecutive_failures,
        }
    }
}

/// One of everything a store holds, written through the store's own calls, deterministically.
fn populate(store: &Store) {
    let first = fold(
        None,
        observation("a.example.test", "aa", T),
        vec![Finding::new(
            FindingCode::NoTls13,
            Severity::Info,
            "negotiated TLSv1.2 only",
        )],
        false,
    );
    store.apply(&first).expect("apply");
    let second = fold(
        Some(&first.record),
        observation("a.example.test", "bb", T + 100),
        vec![],
        false,
    );
    store.apply(&second).expect("apply changed");
    let gone = fold(
        None,
        observation("b.example.test", "cc", T + 200),
        vec![],
        true,
    );
    store.apply(&gone).expect("apply b");
    store
        .retire(&InventoryEvent {
            at: T + 300,
            location_id: gone.record.id.clone(),
            target: gone.record.location.target(),
            kind: EventKind::Retired {
                reason: "forgotten by `certctl forget`".into(),
            },
        })
        .expect("retire");
    let event = |kind| InventoryEvent {
        at: T + 400,
        location_id: first.record.id.clone(),
        target: "a.example.test:443".into(),
        kind,
    };
    for kind in [
        EventKind::RenewalSucceeded {
            name: "web".into(),
            serial: "0b".into(),
            not_after: T + 90 * 86_400,
        },
        EventKind::RenewalFailed {
            name: "web".into(),
            error: "the CA refused".into(),
            failures: 2,
        },
        EventKind::Deployed {
            name: "web".into(),
            target: "nginx".into(),
            serial: "0b".into(),
        },
        EventKind::DeployFailed {
            name: "web".into(),
            target: "haproxy".into(),
            kind: "verification_failed".into(),
            error: "old certificate served".into(),
            rolled_back: true,
        },
    ] {
        store.record_event(&event(kind)).expect("event");
    }
    store
        .update_managed("web", None, |s| {
            s.in_flight = Some(InFlight {
                order_url: "https://ca.example.test/order/1".into(),
                version: "v2".into(),
                key_written: true,
                started_at: T + 500,
            });
            s.failures = 2;
            s.last_failure = Some(T + 510);
            s.last_error = Some("the CA refused".into());
            s.last_problem = Some(CaProblem {
                kind: Some("urn:ietf:params:acme:error:rateLimited".into()),
                detail: Some("too many certificates".into()),
                status: Some(429),
                subproblems: vec!["one".into()],
            });
            s.last_success = Some(T);
            s.last_serial = Some("0a".into());
            s.ari = Some(AriState {
                serial: "0a".into(),
                start: T + 600,
                end: T + 700,
                next_check: T + 800,
            });
            s.orders_placed = 3;
        })
        .expect("managed");
    let alert = AlertEvent {
        id: "0123456789abcdef".into(),
        kind: "expiring".into(),
        severity: Severity::Warning,
        summary: "a.example.test expires in 20 days".into(),
        threshold: Some("30d".into()),
        certificate: Some(AlertCert {
            subject: "CN=a".into(),
            issuer: "CN=ca".into(),
            serial: "0a".into(),
            sha256: "aa".into(),
            sans: vec!["a.example.test".into()],
            not_after: T + 20 * 86_400,
        }),
        locations: vec!["a.example.test:443".into()],
        occurred_at: T + 900,
        reminder: false,
        resolves: Some(("fedcba9876543210".into(), "expired".into())),
        detail: Some("detail".into()),
    };
    let commit = AlertCommit {
        upsert: vec![OpenAlert {
            key: "aa|expiring|30d".into(),
            event: alert.clone(),
            opened_at: T + 900,
            last_sent_at: T + 900,
        }],
        remove: vec![],
        deliveries: vec![("ops".into(), alert)],
        cursor: Some(3),
    };
    store.commit_alerts(&commit, T + 900).expect("alerts");
    store
        .disable_webhook("old", "HTTP 410 Gone")
        .expect("disable");
    store
        .append_audit(T + 1000, "scan", "a.example.test:443", "first seen")
        .expect("audit");
    store
        .append_audit(T + 1001, "renew", "web", "serial 0b")
        .expect("audit");
    store.set_audit_cursor(5).expect("cursor");
    store
        .set_retry_hint("web", Some(T + 2000))
        .expect("retry hint");
    store.flush().expect("flush");
}

/// Every tree of the database, raw: `{tree: {hex key: hex value}}`.
fn dump(db: &sled::Db) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut trees = BTreeMap::new();
    for name in db.tree_names() {
        let tree = db.open_tree(&name).expect("tree");
        let entries: BTreeMap<String, String> = tree
            .iter()
            .map(|item| {
                let (k, v) = item.expect("entry");
                (hex::encode(k), hex::encode(v))
            })
            .collect();
        if !entries.is_empty() {
            trees.insert(String::from_utf8_lossy(&name).into_owned(), entries);
        }
    }
    trees
}

/// A store of `version`, written by this build: itself for today's schema, and for schema 6
/// its locations and rows re-encoded with the frozen schema-6 types.
fn fixture(version: u32) -> Value {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store");
    let store = Store::open(&path).expect("open");
    populate(&store);
    let mut trees = dump(&store.db);
    drop(store);
    match version {
        v if v == SCHEMA_VERSION => {}
        6 => {
            for (_, value) in trees.get_mut("locations").expect("locations").iter_mut() {
                let record: V7LocationRecord =
                    codec::decode(&hex::decode(&*value).expect("hex")).expect("record");
                *value = hex::encode(codec::encode(&V6Location::from(record)));
            }
            for (_, value) in trees.get_mut("rows").expect("rows").iter_mut() {
                let row: V7ListRow =
                    codec::decode(&hex::decode(&*value).expect("hex")).expect("row");
                *value = hex::encode(codec::encode(&V6Row::from(row)));
            }
            let meta = trees.get_mut("meta").expect("meta");
            meta.insert(
                hex::encode("schema_version"),
                hex::encode(6u32.to_be_bytes()),
            );
        }
        other => panic!("this build cannot write a schema-{other} store"),
    }
    json!({
        "schema_version": version,
        "comment": format!(
            "Raw trees of a schema-{version} store (hex keys and values), one of everything. \
             Opened by src/store/fixtures.rs; never rewritten once committed."
        ),
        "trees": trees,
    })
}

fn fixture_path(version: u32) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/store-v{version}.json"))
}

/// A raw database at `path` holding the fixture's trees, minus `without`.
fn load(path: &Path, fixture: &Value, without: &[&str]) {
    let db = sled::open(path).expect("raw sled");
    for (name, entries) in fixture["trees"].as_object().expect("trees") {
        if without.contains(&name.as_str()) {
            continue;
        }
        let tree = db.open_tree(name).expect("tree");
        for (k, v) in entries.as_object().expect("entries") {
            tree.insert(
                hex::decode(k).expect("hex key"),
                hex::decode(v.as_str().expect("hex value")).expect("hex value"),
            )
            .expect("insert");
        }
    }
    db.flush().expect("flush");
}

/// Everything a store gives back, for comparison (schema `version` had these trees).
fn read_back(store: &Store, version: u32) -> Value {
    let locations = store.locations().expect("locations");
    let mut out = json!({
        "locations": serde_json::to_value(&locations).expect("json"),
        "rows": serde_json::to_value(store.rows().expect("rows")).expect("json"),
        "chains": locations.iter().map(|l| store.chain(&l.id).expect("chain")).collect::<Vec<_>>(),
        "history": locations.iter().map(|l| store.history(&l.id).expect("history")).collect::<Vec<_>>(),
        "events": serde_json::to_value(store.events().expect("events")).expect("json"),
    });
    if version >= 3 {
        out["managed"] = serde_json::to_value(store.all_managed().expect("managed")).expect("json");
        out["retry_hint"] = json!(store.retry_hint("web").expect("hint"));
    }
    if version >= 4 {
        out["alerts"] = serde_json::to_value(store.open_alerts().expect("alerts")).expect("json");
        out["outbox"] =
            serde_json::to_value(store.deliveries(100).expect("outbox").0).expect("json");
        out["disabled"] = json!(store.disabled_webhooks().expect("disabled"));
        out["event_cursor"] = json!(store.event_cursor().expect("cursor"));
    }
    if version >= 5 {
        out["audit"] = serde_json::to_value(store.audit_entries(0).expect("audit")).expect("json");
        out["audit_verify"] = json!(format!("{:?}", store.audit_verify().expect("verify")));
        out["audit_cursor"] = json!(store.audit_cursor().expect("cursor"));
    }
    out
}

/// What a store written by this build today reads back as.
fn expected(version: u32) -> Value {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("store")).expect("open");
    populate(&store);
    let out = read_back(&store, version);
    drop(store);
    out
}

/// Opens a committed fixture (minus the trees an older schema did not have yet, with its
/// version set) and reads it back.
fn open_fixture(file: u32, as_version: u32, without: &[&str]) -> Value {
    let text = std::fs::read_to_string(fixture_path(file)).expect("committed fixture");
    let fixture: Value = serde_json::from_str(&text).expect("fixture json");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store");
    load(&path, &fixture, without);
    {
        let db = super::tests::retry(|| sled::open(&path));
        set_version(&db, as_version).expect("version");
        db.flush().expect("flush");
    }
    let store = super::tests::retry(|| Store::open(&path));
    let out = read_back(&store, as_version);
    drop(store);
    let db = super::tests::retry(|| sled::open(&path));
    assert_eq!(
        super::version(&db),
        Ok(SCHEMA_VERSION),
        "migrated to today's schema"
    );
    out
}

#[test]
fn store_fixture_of_today_reads_back_in_full() {
    if let Ok(v) = std::env::var("CERTCTL_WRITE_STORE_FIXTURE") {
        let version: u32 = v.parse().expect("a schema version");
        let text = serde_json::to_string_pretty(&fixture(version)).expect("json");
        std::fs::write(fixture_path(version), text + "\n").expect("write fixture");
    }
    let got = open_fixture(SCHEMA_VERSION, SCHEMA_VERSION, &[]);
    assert_eq!(
        got,
        expected(SCHEMA_VERSION),
        "the schema-{SCHEMA_VERSION} fixture no longer reads back as written: a stored type changed \
         its encoding (bump the schema and migrate; see src/store/fixtures.rs)"
    );
}

#[test]
fn store_fixtures_of_schemas_2_to_6_migrate_and_read_back() {
    // Schemas 2-5 stored locations as schema 6 did and lacked the trees added since.
    let cases: [(u32, &[&str]); 5] = [
        (6, &[]),
        (5, &["rows"]),
        (4, &["rows", "audit"]),
        (3, &["rows", "audit", "alerts", "outbox", "alert_meta"]),
        (
            2,
            &[
                "rows",
                "audit",
                "alerts",
                "outbox",
                "alert_meta",
                "managed",
                "retry_hints",
            ],
        ),
    ];
    for (version, without) in cases {
        let got = open_fixture(6, version, without);
        assert_eq!(got, expected(version), "schema {version}");
    }
}
