//! Fleet mode's coordination core against a real PostgreSQL (a throwaway cluster made with
//! initdb on 127.0.0.1): migrations applied once by nodes starting together, a newer schema
//! refused, leases with one holder at a time and growing fencing tokens, fenced writes refused
//! after a takeover, a cut-off holder's lease taken over after its TTL, exclusive node names,
//! config drift reported, the fleet key checked, TLS verified, and an unreachable or silent
//! store a clear bounded error; end to end, nodes renewing once, taking over, riding out a hung,
//! crashed or refusing database and catching up afterwards.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use certctl::fleet::{Fleet, FleetError, FleetKey, FleetSettings, SCHEMA_VERSION};
use common::pebble::{Pebble, PebbleOptions, dns_hook_with};
use common::servers::{self, Material};
use common::*;

fn settings(port: u16, node: &str) -> FleetSettings {
    FleetSettings {
        url: format!("postgres://postgres@127.0.0.1:{port}/postgres?sslmode=disable"),
        password: None,
        ca_file: None,
        node: node.into(),
        timeout: Duration::from_secs(5),
        instance: None,
    }
}

/// A cluster on a free port, and the first node's connection (retried while the server
/// finishes starting up).
async fn cluster() -> (servers::Server, u16) {
    let port = free_port();
    let server = servers::postgres(None, port);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match Fleet::connect(&settings(port, "probe")).await {
            Ok(_) => break,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("PostgreSQL did not come up: {e}\n{}", server.log_text()),
        }
    }
    (server, port)
}

async fn node(port: u16, name: &str) -> Fleet {
    Fleet::connect(&settings(port, name))
        .await
        .unwrap_or_else(|e| panic!("node {name}: {e}"))
}

/// A plain connection for the test's own statements.
async fn admin(port: u16) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(
        &format!("host=127.0.0.1 port={port} user=postgres dbname=postgres"),
        tokio_postgres::NoTls,
    )
    .await
    .expect("admin connection");
    tokio::spawn(connection);
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_starting_together_migrate_once_and_a_newer_schema_is_refused() {
    let port = free_port();
    let _server = servers::postgres(None, port);
    // Three nodes race on an empty database (retrying while the server starts up).
    let start = |name: &'static str| async move {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match Fleet::connect(&settings(port, name)).await {
                Ok(f) => return f,
                Err(e) if Instant::now() > deadline => panic!("{name}: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    };
    let (a, b, c) = tokio::join!(start("a"), start("b"), start("c"));
    for f in [&a, &b, &c] {
        assert_eq!(f.schema_version().await.expect("version"), SCHEMA_VERSION);
    }
    let db = admin(port).await;
    let applied: i64 = db
        .query_one("SELECT count(*) FROM schema_migrations", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(
        applied,
        i64::from(SCHEMA_VERSION),
        "each version applied exactly once"
    );

    // A later certctl migrated this store: this one must not write to it.
    let future = SCHEMA_VERSION + 1;
    db.execute(
        "INSERT INTO schema_migrations (version, name, applied_by) VALUES ($1, 'future', 'z')",
        &[&future],
    )
    .await
    .expect("insert");
    let e = Fleet::connect(&settings(port, "old"))
        .await
        .err()
        .expect("a newer schema is refused");
    assert!(
        matches!(
            e,
            FleetError::NewerSchema { found, known, .. } if found == future && known == SCHEMA_VERSION
        ),
        "{e}"
    );
    let text = e.to_string();
    assert!(
        text.contains(&format!("version {future}")) && text.contains("upgrade certctl"),
        "{text}"
    );
}

/// One hold of the lease, as its holder saw it: from the acquire's answer to its own deadline
/// or the release it sent, whichever came first.
#[derive(Debug, Clone)]
struct Hold {
    token: i64,
    from: Instant,
    until: Instant,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_has_one_holder_at_a_time_and_tokens_only_grow() {
    let (_server, port) = cluster().await;
    let holds: Arc<Mutex<Vec<Hold>>> = Arc::default();
    let end = Instant::now() + Duration::from_secs(4);
    let mut tasks = Vec::new();
    for i in 0..8u64 {
        let holds = Arc::clone(&holds);
        let fleet = node(port, &format!("n{i}")).await;
        tasks.push(tokio::spawn(async move {
            let mut round = 0u64;
            let mut renewed = 0u32;
            while Instant::now() < end {
                round += 1;
                let ttl = Duration::from_millis(300);
                match fleet
                    .try_acquire("coordinator", ttl)
                    .await
                    .expect("acquire")
                {
                    None => tokio::time::sleep(Duration::from_millis(5 + i)).await,
                    Some(lease) => {
                        let from = Instant::now();
                        // Work a little, renew once, then either release or let it lapse.
                        tokio::time::sleep(Duration::from_millis(20 + (round * 7 + i) % 60)).await;
                        // Under load the holder may find its own deadline passed: then it
                        // stops (the renewal is refused without asking the store).
                        if fleet.renew(&lease).await.is_ok() {
                            renewed += 1;
                        }
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        let token = lease.token();
                        let until = if round.is_multiple_of(3) {
                            lease.deadline()
                        } else {
                            let sent = Instant::now().min(lease.deadline());
                            fleet.release(lease).await.expect("release");
                            sent
                        };
                        holds.lock().unwrap().push(Hold { token, from, until });
                        if round.is_multiple_of(3) {
                            // Lapsed: wait past it before trying again.
                            tokio::time::sleep(ttl).await;
                        }
                    }
                }
            }
            renewed
        }));
    }
    let mut renewals = 0;
    for t in tasks {
        renewals += t.await.expect("contender");
    }
    assert!(renewals > 0, "live leases renew");
    let mut holds = holds.lock().unwrap().clone();
    holds.sort_by_key(|h| h.from);
    assert!(
        holds.len() >= 15,
        "enough handovers to mean something: {}",
        holds.len()
    );
    for pair in holds.windows(2) {
        assert!(
            pair[0].token < pair[1].token,
            "tokens grow with each holder: {pair:?}"
        );
        assert!(
            pair[0].until <= pair[1].from,
            "two holders at once: {pair:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_under_a_lost_lease_changes_nothing() {
    let (_server, port) = cluster().await;
    let a = node(port, "a").await;
    let b = node(port, "b").await;
    let ttl = Duration::from_secs(10);
    let lease_a = a
        .try_acquire("cert:shop", ttl)
        .await
        .unwrap()
        .expect("free");
    assert!(
        b.try_acquire("cert:shop", ttl).await.unwrap().is_none(),
        "held by a"
    );
    a.put_record(&lease_a, "order:shop", b"order-1")
        .await
        .expect("fenced write");

    // The database hands the lease on (as when a's renewals stopped reaching it) while a's own
    // clock still says it holds it: only the token check stands between a and the record.
    let db = admin(port).await;
    db.execute("UPDATE leases SET expires_at = clock_timestamp()", &[])
        .await
        .expect("expire");
    let lease_b = b
        .try_acquire("cert:shop", ttl)
        .await
        .unwrap()
        .expect("taken over");
    assert!(lease_b.token() > lease_a.token());
    b.put_record(&lease_b, "order:shop", b"order-2")
        .await
        .expect("b writes");

    let e = a
        .put_record(&lease_a, "order:shop", b"stale")
        .await
        .unwrap_err();
    assert!(matches!(e, FleetError::LeaseLost { .. }), "{e}");
    assert!(e.to_string().contains("cert:shop"), "{e}");
    let e = a.renew(&lease_a).await.unwrap_err();
    assert!(matches!(e, FleetError::LeaseLost { .. }), "{e}");
    assert!(
        !lease_a.is_live(Instant::now()),
        "a stops acting once it knows"
    );
    let (value, token, by) = a.record("order:shop").await.unwrap().expect("record");
    assert_eq!(
        (value.as_slice(), token, by.as_str()),
        (&b"order-2"[..], lease_b.token(), "b")
    );

    // A release by a loser frees nothing; b's release frees it at once.
    a.release(lease_a).await.expect("no-op release");
    assert!(a.try_acquire("cert:shop", ttl).await.unwrap().is_none());
    b.release(lease_b).await.expect("release");
    let again = a
        .try_acquire("cert:shop", ttl)
        .await
        .unwrap()
        .expect("free after release");
    let listed = b.leases().await.expect("leases");
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].holder.as_str(), listed[0].token),
        ("a", again.token())
    );
    assert!(listed[0].expires_in > 5.0, "{listed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_cut_off_from_the_database_is_taken_over_after_its_ttl() {
    let (_server, port) = cluster().await;
    let a = node(port, "a").await;
    let b = node(port, "b").await;
    let ttl = Duration::from_secs(2);
    let lease = a.try_acquire("cert:pay", ttl).await.unwrap().expect("free");
    let db = admin(port).await;
    let cut = Instant::now();
    let killed: i64 = db
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
              WHERE application_name = 'certctl a'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(killed, 1);
    // a learns at its next call: an error, never a hang, and it no longer renews.
    let e = a.renew(&lease).await.unwrap_err();
    assert!(e.is_unavailable(), "{e}");
    let e = a.leases().await.unwrap_err();
    assert!(e.is_unavailable(), "{e}");
    // The lease does not die with the session (unlike an advisory lock): b waits for the TTL.
    assert!(b.try_acquire("cert:pay", ttl).await.unwrap().is_none());
    let taken = loop {
        if let Some(l) = b.try_acquire("cert:pay", ttl).await.unwrap() {
            break l;
        }
        assert!(cut.elapsed() < Duration::from_secs(10), "never taken over");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let after = cut.elapsed();
    assert!(
        after >= ttl - Duration::from_millis(300),
        "taken over early: {after:?}"
    );
    assert!(taken.token() > lease.token());
    assert!(!lease.is_live(Instant::now()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_names_are_exclusive_and_config_drift_is_reported() {
    let (_server, port) = cluster().await;
    let stale = Duration::from_secs(2);
    let a = node(port, "web-1").await;
    assert!(a.register("hash-1", stale).await.unwrap().drift.is_empty());
    // A second process under the same name is refused while the first is alive.
    let twin = Fleet::connect(&FleetSettings {
        instance: Some("another-process".into()),
        ..settings(port, "web-1")
    })
    .await
    .unwrap();
    let e = twin.register("hash-1", stale).await.unwrap_err();
    assert!(matches!(e, FleetError::NameInUse { .. }), "{e}");
    assert!(e.to_string().contains("web-1"), "{e}");

    let b = node(port, "web-2").await;
    let seen = b.register("hash-2", stale).await.unwrap();
    assert_eq!(seen.drift.len(), 1, "{seen:?}");
    assert_eq!(seen.drift[0].name, "web-1");
    assert_eq!(seen.drift[0].config_hash, "hash-1");

    // Once web-1 stops heartbeating, the name may be taken; the old process then learns it.
    tokio::time::sleep(stale + Duration::from_millis(200)).await;
    b.heartbeat().await.expect("web-2 beats");
    twin.register("hash-2", stale)
        .await
        .expect("stale name taken");
    let e = a.heartbeat().await.unwrap_err();
    assert!(matches!(e, FleetError::NameInUse { .. }), "{e}");
    let nodes = b.nodes().await.unwrap();
    assert_eq!(nodes.len(), 2);
    assert!(
        nodes
            .iter()
            .all(|n| n.config_hash == "hash-2" && n.heartbeat_ago < 2.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_another_fleet_key_is_refused() {
    let (_server, port) = cluster().await;
    let dir = tempfile::tempdir().unwrap();
    let key = FleetKey::generate(&dir.path().join("fleet.key")).unwrap();
    let other = FleetKey::generate(&dir.path().join("other.key")).unwrap();
    let (a, b, c) = (
        node(port, "a").await,
        node(port, "b").await,
        node(port, "c").await,
    );
    // Two nodes racing with the same key both pass; the fleet then knows only that key.
    let (ra, rb) = tokio::join!(a.check_key(&key), b.check_key(&key));
    ra.expect("a");
    rb.expect("b");
    let loaded = FleetKey::load(&dir.path().join("fleet.key")).unwrap();
    c.check_key(&loaded).await.expect("same key from its file");
    let e = c.check_key(&other).await.unwrap_err();
    assert!(matches!(e, FleetError::WrongKey { .. }), "{e}");
    assert!(
        e.to_string().contains(&key.id()),
        "names the fleet's key id: {e}"
    );
    // What the store holds is sealed: no plaintext canary in it.
    let db = admin(port).await;
    let rows = db
        .query("SELECT canary FROM fleet_keys", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let canary: Vec<u8> = rows[0].get(0);
    assert!(!canary.windows(7).any(|w| w == b"certctl"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_is_verified_and_a_dead_or_silent_store_is_a_clear_bounded_error() {
    let pki = Pki::new();
    let leaf = pki.leaf(&["127.0.0.1", "db.test"], -1, 60, SignedBy::Intermediate);
    let (fullchain, key) = pki.write_leaf("db", &leaf, true);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(pki.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let port = free_port();
    let server = servers::postgres(Some(&Material { fullchain, key }), port);
    let url =
        format!("postgres://postgres@db.test:{port}/postgres?sslmode=require&hostaddr=127.0.0.1");
    let with = |ca: Option<std::path::PathBuf>| FleetSettings {
        url: url.clone(),
        ca_file: ca,
        ..settings(port, "tls")
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let fleet = loop {
        match Fleet::connect(&with(Some(pki.root_path()))).await {
            Ok(f) => break f,
            Err(e) if Instant::now() > deadline => panic!("{e}\n{}", server.log_text()),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    assert_eq!(fleet.schema_version().await.unwrap(), SCHEMA_VERSION);
    let db = admin(port).await;
    let ssl: bool = db
        .query_one(
            "SELECT bool_and(ssl) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid)
              WHERE application_name = 'certctl tls'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(ssl, "the node's session is encrypted");
    // Without the private root the server's certificate is not trusted.
    let e = Fleet::connect(&with(None)).await.err().expect("untrusted");
    assert!(e.to_string().to_lowercase().contains("certificate"), "{e}");

    // A password in the url is refused (it belongs in password_file / password_env).
    let e = Fleet::connect(&FleetSettings {
        url: format!("postgres://postgres:hunter2@127.0.0.1:{port}/postgres"),
        ..settings(port, "x")
    })
    .await
    .err()
    .expect("refused");
    assert!(
        e.to_string().contains("password_file") && !e.to_string().contains("hunter2"),
        "{e}"
    );

    // Nothing listening, and a peer that accepts but never answers: bounded, named errors.
    let closed = closed_port();
    let e = Fleet::connect(&settings(closed.port(), "x"))
        .await
        .err()
        .expect("closed");
    assert!(
        e.is_unavailable() && e.to_string().contains(&closed.port().to_string()),
        "{e}"
    );
    let silent = silent_server();
    let started = Instant::now();
    let e = Fleet::connect(&FleetSettings {
        timeout: Duration::from_secs(1),
        ..settings(silent.port(), "x")
    })
    .await
    .err()
    .expect("silent");
    assert!(matches!(e, FleetError::Timeout { .. }), "{e}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// A firing another node queued before the alert's episode was resolved (its receiver was down,
/// say) is not sent as a new episode once the resolution went out; a reminder never reopens a
/// resolved episode; a firing raised after the resolution does, with a new generation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_firing_raised_before_the_fleet_resolved_it_is_not_sent_again() {
    use certctl::fleet::claim::{Claim, Raised};
    let (_server, port) = cluster().await;
    let (a, b) = (node(port, "a").await, node(port, "b").await);
    let hold = Duration::from_secs(10);
    let fresh = Duration::from_secs(3600);
    let key = "ops|alert-1|expired";
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    };
    let raised = now() - 5;
    let Claim::Mine { generation: first } = a
        .claim_delivery(key, hold, fresh, Some(Raised::At(raised)))
        .await
        .unwrap()
    else {
        panic!("the first claim is a's");
    };
    a.settle_delivery(key, true).await.unwrap();
    assert!(matches!(
        b.claim_delivery(key, hold, fresh, Some(Raised::At(raised))).await.unwrap(),
        Claim::Sent { by } if by == "a"
    ));
    a.resolve_claim(key).await.unwrap();

    // b's copy of the same firing, retried after the resolution: settled, not sent.
    for late in [Raised::At(raised), Raised::Reminder] {
        let claim = b
            .claim_delivery(key, hold, fresh, Some(late))
            .await
            .unwrap();
        assert!(matches!(&claim, Claim::Sent { .. }), "{late:?}: {claim:?}");
    }
    // The condition back after the resolution: a new episode.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    match b
        .claim_delivery(key, hold, fresh, Some(Raised::At(now())))
        .await
        .unwrap()
    {
        Claim::Mine { generation } => assert!(generation > first),
        other => panic!("a new firing is b's to send: {other:?}"),
    }
}

/// Node `node`'s config: its own state directory, the shared store and key, one Pebble
/// account and one http-01 certificate.
fn node_config(
    dir: &std::path::Path,
    node: &str,
    port: u16,
    key: &std::path::Path,
    pebble: &Pebble,
) -> std::path::PathBuf {
    // One config for every node: each deploys only the target named for it.
    let mut http01 = format!(
        "type = \"http-01\"\nlisten = \"127.0.0.1:{}\"\n",
        pebble.http_port
    );
    for n in ["a", "b"] {
        let to = dir.join(format!("deploy-{n}"));
        std::fs::create_dir_all(&to).unwrap();
        http01.push_str(&format!(
            "[[certificate.deploy]]\nname = \"web-{n}\"\nnode = \"{n}\"\nfullchain = \"{f}\"\nkey = \"{k}\"\n",
            f = to.join("fullchain.pem").display(),
            k = to.join("privkey.pem").display(),
        ));
    }
    node_config_with(dir, node, port, key, pebble, &http01)
}

/// [`node_config`] with another `[certificate.challenge]` body.
fn node_config_with(
    dir: &std::path::Path,
    node: &str,
    port: u16,
    key: &std::path::Path,
    pebble: &Pebble,
    challenge: &str,
) -> std::path::PathBuf {
    let home = dir.join(node);
    std::fs::create_dir_all(&home).unwrap();
    write_config(
        &home,
        &format!(
            "[store]\npath = \"{home}/state/store\"\nurl = \"postgres://postgres@127.0.0.1:{port}/postgres?sslmode=disable\"\n\n\
             [fleet]\nnode = \"{node}\"\nkey_file = \"{key}\"\nlease_ttl = \"6s\"\n\n\
             [acme.accounts.pebble]\ndirectory = \"{dir_url}\"\nagree_tos = true\nca_file = \"{root}\"\n\n\
             [[certificate]]\nname = \"shop\"\ndomains = [\"shop.example.test\"]\n\
             [certificate.challenge]\n{challenge}",
            home = home.display(),
            key = key.display(),
            dir_url = pebble.directory(),
            root = pebble.tls_root().display(),
        ),
    )
}

fn current(dir: &std::path::Path, node: &str, file: &str) -> String {
    std::fs::read_to_string(dir.join(node).join("state/certs/shop/current").join(file))
        .unwrap_or_else(|e| panic!("{node} {file}: {e}"))
}

fn renew_json(out: &std::process::Output) -> serde_json::Value {
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", stdout(out), stderr(out)));
    doc.as_array()
        .and_then(|a| a.first())
        .or_else(|| doc["certificates"].as_array().and_then(|a| a.first()))
        .cloned()
        .unwrap_or(doc)
}

/// A `certctl run` process, killed when dropped (a failed test leaves no daemon behind).
struct Daemon(std::process::Child);

impl std::ops::Deref for Daemon {
    type Target = std::process::Child;
    fn deref(&self) -> &std::process::Child {
        &self.0
    }
}

impl std::ops::DerefMut for Daemon {
    fn deref_mut(&mut self) -> &mut std::process::Child {
        &mut self.0
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// `certctl run` with `config`, its log in `log` (or nowhere).
fn start_daemon_logged(config: &std::path::Path, log: Option<&std::path::Path>) -> Daemon {
    let stderr = match log {
        Some(path) => std::process::Stdio::from(std::fs::File::create(path).unwrap()),
        None => std::process::Stdio::null(),
    };
    Daemon(
        std::process::Command::new(env!("CARGO_BIN_EXE_certctl"))
            .args(["run", "--config", config.to_str().unwrap()])
            .env_remove("CERTCTL_STORE")
            .stdout(std::process::Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("certctl run"),
    )
}

/// `certctl run` with `config`.
fn start_daemon(config: &std::path::Path) -> Daemon {
    start_daemon_logged(config, None)
}

/// Stops a daemon as systemd does (SIGTERM) and checks that it exits cleanly.
fn stop_daemon(mut daemon: Daemon) {
    let pid = daemon.id().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status();
    assert!(sent.unwrap().success());
    assert!(daemon.wait().unwrap().success());
}

/// What the end-to-end tests share: a runtime, a cluster on `port`, a scratch directory and a
/// fleet key made by `certctl fleet keygen` in it.
fn setup() -> (
    tokio::runtime::Runtime,
    servers::Server,
    u16,
    tempfile::TempDir,
    std::path::PathBuf,
) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (server, port) = rt.block_on(cluster());
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("fleet.key");
    ok(certctl_config(
        &write_config(dir.path(), ""),
        &["fleet", "keygen", key.to_str().unwrap()],
    ));
    (rt, server, port, dir, key)
}

#[test]
fn two_nodes_renew_once_and_both_install_the_certificate() {
    let pebble = Pebble::start(PebbleOptions::default());
    let (rt, _server, port, dir, key) = setup();
    let a = node_config(dir.path(), "a", port, &key, &pebble);
    let b = node_config(dir.path(), "b", port, &key, &pebble);

    // Both nodes are told to issue at once: one orders, the other waits and installs its version.
    let (out_a, out_b) = std::thread::scope(|s| {
        let ta = s.spawn(|| certctl_config(&a, &["issue", "shop", "-o", "json"]));
        let tb = s.spawn(|| certctl_config(&b, &["issue", "shop", "-o", "json"]));
        (ta.join().unwrap(), tb.join().unwrap())
    });
    let (ra, rb) = (renew_json(&ok(out_a)), renew_json(&ok(out_b)));
    let by = [&ra, &rb].map(|r| r["renewed_by"].as_str().map(str::to_string));
    assert_eq!(orders_in(&pebble), 1, "one order fleet-wide: {ra}\n{rb}");
    assert!(
        matches!(&by, [None, Some(n)] if n == "a") || matches!(&by, [Some(n), None] if n == "b"),
        "one node renewed, the other installed its version: {ra}\n{rb}"
    );
    for file in ["cert.pem", "fullchain.pem", "privkey.pem"] {
        assert_eq!(
            current(dir.path(), "a", file),
            current(dir.path(), "b", file),
            "{file}"
        );
    }
    use std::os::unix::fs::PermissionsExt;
    // Each node deployed its own target, and only its own.
    for n in ["a", "b"] {
        let deployed =
            std::fs::read_to_string(dir.path().join(format!("deploy-{n}/fullchain.pem")))
                .unwrap_or_else(|e| panic!("node {n}'s target: {e}"));
        assert_eq!(deployed, current(dir.path(), n, "fullchain.pem"));
    }
    let history = |config: &std::path::Path| stdout(&ok(certctl_config(config, &["history"])));
    let (ha, hb) = (history(&a), history(&b));
    assert!(ha.contains("web-a") && !ha.contains("web-b"), "{ha}");
    assert!(hb.contains("web-b") && !hb.contains("web-a"), "{hb}");
    let key_b = dir.path().join("b/state/certs/shop/current/privkey.pem");
    assert_eq!(
        std::fs::metadata(&key_b).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // The store holds the key sealed only.
    let dump = rt.block_on(async {
        let db = admin(port).await;
        let rows = db.query("SELECT value FROM records", &[]).await.unwrap();
        rows.iter()
            .map(|r| String::from_utf8_lossy(r.get::<_, &[u8]>(0)).into_owned())
            .collect::<String>()
    });
    assert!(
        dump.contains("BEGIN CERTIFICATE") && !dump.contains("PRIVATE KEY"),
        "{dump}"
    );

    // A forced renewal on b is published; a's next plain run installs it without ordering.
    ok(certctl_config(&b, &["renew", "shop", "--force"]));
    assert_eq!(orders_in(&pebble), 2);
    let pulled = renew_json(&ok(certctl_config(&a, &["renew", "shop", "-o", "json"])));
    assert_eq!(pulled["renewed_by"], "b", "{pulled}");
    assert_eq!(orders_in(&pebble), 2);
    assert_eq!(
        current(dir.path(), "a", "cert.pem"),
        current(dir.path(), "b", "cert.pem")
    );

    // The fleet as the store sees it: both nodes, same config, no lease held.
    let status: serde_json::Value =
        serde_json::from_slice(&ok(certctl_config(&a, &["fleet", "status", "-o", "json"])).stdout)
            .unwrap();
    let names: Vec<&str> = status["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a", "b"], "{status}");
    assert!(
        status["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["config_differs"] == false),
        "{status}"
    );
    let table = stdout(&ok(certctl_config(&a, &["fleet", "status"])));
    assert!(
        table.contains("this node: a") && table.contains("1/1 targets"),
        "{table}"
    );
    // Which node serves which version: both have b's.
    let deployments = status["deployments"].as_array().unwrap();
    assert_eq!(deployments.len(), 2, "{status}");
    let serial_b = &deployments[1]["serial"];
    assert!(
        deployments.iter().all(|d| d["certificate"] == "shop"
            && &d["serial"] == serial_b
            && d["targets"] == 1
            && d["failed"] == 0),
        "{status}"
    );
    assert!(
        status["leases"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["expires_in_seconds"].as_f64().unwrap() <= 0.0),
        "{status}"
    );

    // The daemon keeps its node registered and alive; stopped, it leaves.
    let alive = |name: &str| {
        let status: serde_json::Value = serde_json::from_slice(
            &ok(certctl_config(&a, &["fleet", "status", "-o", "json"])).stdout,
        )
        .unwrap();
        status["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["name"] == name && n["alive"] == true)
    };
    assert!(!alive("b"), "b's CLI runs left the fleet when they ended");
    let daemon = start_daemon(&b);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !alive("b") {
        assert!(
            Instant::now() < deadline,
            "the daemon never joined the fleet"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Still alive after more than a lease time: it heartbeats.
    std::thread::sleep(Duration::from_secs(7));
    let status: serde_json::Value =
        serde_json::from_slice(&ok(certctl_config(&a, &["fleet", "status", "-o", "json"])).stdout)
            .unwrap();
    let beat = status["nodes"][1]["heartbeat_seconds_ago"]
        .as_f64()
        .unwrap();
    assert!(beat < 4.0, "heartbeats every lease_ttl / 3: {status}");

    // A renewal on a reaches b's daemon at once: notified, it installs a's version (the poll
    // behind it runs every 5 s, so 2 s shows the notification working).
    let before = current(dir.path(), "b", "cert.pem");
    ok(certctl_config(&a, &["renew", "shop", "--force"]));
    let renewed = Instant::now();
    let fresh = current(dir.path(), "a", "cert.pem");
    assert_ne!(fresh, before);
    while current(dir.path(), "b", "cert.pem") != fresh {
        assert!(
            renewed.elapsed() < Duration::from_secs(2),
            "b did not install a's renewal within 2 s of its publication (notified: ~50 ms here)"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(orders_in(&pebble), 3, "b installed, it did not order");
    stop_daemon(daemon);
    assert!(!alive("b"), "a stopped daemon leaves the fleet");

    // The fleet store unreachable: nothing is renewed (no lease, no order), exit 3, said clearly.
    let gone = node_config(dir.path(), "d", closed_port().port(), &key, &pebble);
    let out = certctl_config(&gone, &["renew", "shop", "--force"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("fleet store"), "{}", stderr(&out));
    assert_eq!(orders_in(&pebble), 3);

    // A node with another key is refused before it talks to the CA.
    let other = dir.path().join("other.key");
    ok(certctl_config(
        &write_config(dir.path(), ""),
        &["fleet", "keygen", other.to_str().unwrap()],
    ));
    let c = node_config(dir.path(), "c", port, &other, &pebble);
    let out = certctl_config(&c, &["renew", "shop", "--force"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not the fleet's key"),
        "{}",
        stderr(&out)
    );
    assert_eq!(orders_in(&pebble), 3);
}

fn orders_in(pebble: &Pebble) -> usize {
    pebble.log().matches("Added order").count()
}

#[test]
fn fleet_config_mistakes_are_reported_at_once_with_their_lines() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "[store]\nurl = \"postgres://certctl:hunter2@db.test/certctl\"\npassword_env = \"CERTCTL_TEST_UNSET_PW\"\n\n[fleet]\nnode = \"web 1\"\nlease_ttl = \"2s\"\n",
    );
    let out = certctl_config(&config, &["fleet", "status"]);
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    for expected in [
        "certctl.toml:2: store.url",
        "store.url",
        "password_file or password_env",
        "CERTCTL_TEST_UNSET_PW is not set",
        "fleet.node",
        "fleet.lease_ttl",
        "fleet.key_file",
        "certctl fleet keygen",
    ] {
        assert!(err.contains(expected), "missing {expected:?}:\n{err}");
    }
    assert!(
        !err.contains("hunter2"),
        "the password is never echoed:\n{err}"
    );

    let config = write_config(
        dir.path(),
        "[acme.accounts.le]\ndirectory = \"https://acme.test/dir\"\nagree_tos = true\n\n\
         [[certificate]]\nname = \"www\"\ndomains = [\"www.test\"]\naccount = \"le\"\n\
         [certificate.challenge]\ntype = \"http-01\"\n\
         [[certificate.deploy]]\nnode = \"web-1\"\nfullchain = \"/tmp/f.pem\"\nkey = \"/tmp/k.pem\"\n",
    );
    let err = stderr(&certctl_config(&config, &["fleet", "status"]));
    assert!(
        err.contains("certificate[0].deploy[0].node: only used in fleet mode"),
        "{err}"
    );
    // The store password is never printed, whatever fails and however verbose the log.
    let planted = "planted-store-password-7f3a";
    std::fs::write(dir.path().join("db.password"), format!("{planted}\n")).unwrap();
    certctl::fleet::FleetKey::generate(&dir.path().join("fleet.key")).unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            // A store of its own: never the system's /var/lib/certctl (the package test's).
            "[store]\npath = \"store\"\nurl = \"postgres://certctl@127.0.0.1:{}/certctl\"\npassword_file = \"db.password\"\n[fleet]\nkey_file = \"fleet.key\"\n\
             [acme.accounts.le]\ndirectory = \"https://acme.test/dir\"\nagree_tos = true\n\
             [[certificate]]\nname = \"www\"\ndomains = [\"www.test\"]\naccount = \"le\"\n\
             [certificate.challenge]\ntype = \"http-01\"\n",
            closed_port().port()
        ),
    );
    for args in [
        &["fleet", "status", "-vv"][..],
        &["renew", "--all", "-vv"][..],
    ] {
        let out = certctl_config(&config, args);
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        let all = format!("{}{}", stdout(&out), stderr(&out));
        // It got as far as connecting (the key is good): the error names the store.
        assert!(all.contains("fleet store certctl@127.0.0.1"), "{all}");
        assert!(!all.contains(planted), "{all}");
    }
    let config = write_config(dir.path(), "[fleet]\nnode = \"a\"\n");
    let err = stderr(&certctl_config(&config, &["fleet", "status"]));
    assert!(err.contains("[store] url"), "{err}");
    let config = write_config(dir.path(), "[scan]\ntimeout = \"5s\"\n");
    let out = certctl_config(&config, &["fleet", "status"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("not in fleet mode"),
        "{}",
        stderr(&out)
    );
}

/// A dns-01 `[certificate.challenge]` body whose hook runs `action` (shell) on the first
/// `present` it sees, creating `marker` first: a node hit in the middle of its order.
fn signalling_dns01(
    dir: &std::path::Path,
    pebble: &Pebble,
    marker: &std::path::Path,
    action: &str,
) -> String {
    let hook = dns_hook_with(
        dir,
        pebble,
        &format!(
            "if [ \"$1\" = present ] && [ ! -e {m} ]; then touch {m}; {action}; fi\n",
            m = marker.display()
        ),
    );
    format!(
        "type = \"dns-01\"\ndns_provider = \"exec\"\ndns_exec = \"{}\"\n",
        hook.display()
    )
}

#[test]
fn a_node_that_takes_over_resumes_the_order_a_killed_holder_placed() {
    let pebble = Pebble::start(PebbleOptions::default());
    let (_rt, _server, port, dir, key) = setup();
    // The hook kills the certctl that runs it (kill -9) in the middle of the order, once.
    let marker = dir.path().join("killed");
    let challenge = signalling_dns01(dir.path(), &pebble, &marker, "kill -9 $PPID; sleep 5");
    let a = node_config_with(dir.path(), "a", port, &key, &pebble, &challenge);
    let b = node_config_with(dir.path(), "b", port, &key, &pebble, &challenge);
    let out = certctl_config(&a, &["issue", "shop"]);
    assert!(
        marker.exists() && !out.status.success(),
        "a was killed mid-order"
    );
    assert_eq!(orders_in(&pebble), 1);

    // b finds the lease held by the dead node, waits it out, adopts a's order through the
    // fleet's shared account and finishes it: no second order.
    let started = Instant::now();
    let report = renew_json(&ok(certctl_config(&b, &["renew", "shop", "-o", "json"])));
    let took = started.elapsed();
    assert_eq!(report["result"], "installed", "{report}");
    assert_eq!(report["resumed"], true, "the same order, resumed: {report}");
    assert_eq!(orders_in(&pebble), 1, "no second order");
    assert!(
        took < Duration::from_secs(30),
        "taken over within 30 s: {took:?}"
    );
    let account = |node: &str| {
        let text =
            std::fs::read_to_string(dir.path().join(node).join("state/accounts/pebble.json"))
                .unwrap();
        serde_json::from_str::<serde_json::Value>(&text).unwrap()["id"].clone()
    };
    assert_eq!(account("a"), account("b"), "one ACME account fleet-wide");

    // a, back, installs b's certificate instead of ordering again. Killed without leaving,
    // its name stays taken until its registration is stale (2 x lease_ttl): said clearly.
    let deadline = Instant::now() + Duration::from_secs(20);
    let out = loop {
        let out = certctl_config(&a, &["renew", "shop", "-o", "json"]);
        if out.status.success() || Instant::now() > deadline {
            break out;
        }
        assert!(
            stderr(&out).contains("in use by a live process"),
            "{}",
            stderr(&out)
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let report = renew_json(&ok(out));
    assert_eq!(report["renewed_by"], "b", "{report}");
    assert_eq!(orders_in(&pebble), 1);
    assert_eq!(
        current(dir.path(), "a", "cert.pem"),
        current(dir.path(), "b", "cert.pem")
    );
}

/// Sends `signal` to `pid` and every process whose parent it is (PostgreSQL's backends).
fn signal_tree(pid: u32, signal: &str) {
    let children = std::process::Command::new("pgrep")
        .args(["-P", &pid.to_string()])
        .output()
        .expect("pgrep");
    let mut pids: Vec<String> = String::from_utf8_lossy(&children.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect();
    pids.push(pid.to_string());
    let status = std::process::Command::new("kill")
        .arg(signal)
        .args(&pids)
        .status()
        .expect("kill");
    assert!(status.success());
}

#[test]
fn a_hung_database_is_a_bounded_error_and_the_daemon_recovers() {
    let pebble = Pebble::start(PebbleOptions::default());
    let (_rt, server, port, dir, key) = setup();
    let a = node_config(dir.path(), "a", port, &key, &pebble);
    let b = node_config(dir.path(), "b", port, &key, &pebble);
    ok(certctl_config(&a, &["issue", "shop"]));
    let status = |config: &std::path::Path| -> serde_json::Value {
        serde_json::from_slice(
            &ok(certctl_config(config, &["fleet", "status", "-o", "json"])).stdout,
        )
        .unwrap()
    };
    let b_alive = || {
        status(&a)["nodes"].as_array().unwrap().iter().any(|n| {
            n["name"] == "b"
                && n["alive"] == true
                && n["heartbeat_seconds_ago"].as_f64().unwrap() < 3.0
        })
    };
    let mut daemon = start_daemon(&b);
    wait_until("b joins", 20, &b_alive);
    // b's daemon installs a's certificate at start (its first renewal pass).
    wait_until("b installs a's certificate", 20, &|| {
        std::fs::read_to_string(dir.path().join("b/state/certs/shop/current/cert.pem")).ok()
            == Some(current(dir.path(), "a", "cert.pem"))
    });

    // The database hangs: the postmaster and every backend stopped.
    signal_tree(server.pid(), "-STOP");
    let started = Instant::now();
    let out = certctl_config(&a, &["renew", "shop", "--force"]);
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no answer within"),
        "{}",
        stderr(&out)
    );
    assert!(took < Duration::from_secs(15), "bounded: {took:?}");
    // `certctl status` on b says so (the daemon answers; its heartbeat timed out).
    let daemon_status = || stdout(&ok(certctl_config(&b, &["status"])));
    wait_until("b's status reports the outage", 15, &|| {
        daemon_status().contains("CANNOT REACH")
    });
    assert!(
        daemon.try_wait().unwrap().is_none(),
        "the daemon keeps running"
    );
    signal_tree(server.pid(), "-CONT");

    // Recovered: b heartbeats again and installs the next renewal as soon as it is published.
    wait_until("b rejoins after the database returns", 20, &b_alive);
    wait_until("b's status reports it up", 10, &|| {
        daemon_status().contains("fleet: node b in postgres@127.0.0.1")
    });
    ok(certctl_config(&a, &["renew", "shop", "--force"]));
    let fresh = current(dir.path(), "a", "cert.pem");
    wait_until("b installs the renewal after recovery", 10, &|| {
        std::fs::read_to_string(dir.path().join("b/state/certs/shop/current/cert.pem")).ok()
            == Some(fresh.clone())
    });
    assert_eq!(orders_in(&pebble), 2, "a hung database placed no order");
    stop_daemon(daemon);
}

#[test]
fn a_failure_on_one_node_backs_off_every_node() {
    let pebble = Pebble::start(PebbleOptions::default());
    let (_rt, _server, port, dir, key) = setup();
    // Pebble asks its http port; the solver listens elsewhere, so validation fails.
    let wrong = format!(
        "type = \"http-01\"\nlisten = \"127.0.0.1:{}\"\n",
        free_port()
    );
    let a = node_config_with(dir.path(), "a", port, &key, &pebble, &wrong);
    let b = node_config_with(dir.path(), "b", port, &key, &pebble, &wrong);
    let failed = renew_json(&certctl_config(&a, &["renew", "shop", "-o", "json"]));
    assert_eq!(failed["result"], "failed", "{failed}");
    assert_eq!(orders_in(&pebble), 1);
    // b has never failed itself, but the fleet has: it waits instead of ordering again.
    let waiting = renew_json(&ok(certctl_config(&b, &["renew", "shop", "-o", "json"])));
    assert_eq!(waiting["decision"], "backing_off", "{waiting}");
    assert_eq!(waiting["failures"], 1, "{waiting}");
    assert_eq!(orders_in(&pebble), 1, "no second order during the backoff");
}

#[test]
fn an_alert_every_node_raises_is_delivered_once_with_one_webhook_id() {
    let (_rt, _server, port, dir, key) = setup();
    let receiver = common::receiver::Receiver::start();
    let pki = Pki::new();
    let leaf = pki.leaf(&["pay.example.test"], -100, 10, SignedBy::Intermediate);
    let cert = dir.path().join("pay.pem");
    std::fs::write(&cert, &leaf.pem).unwrap();
    // The same certificate is in every node's inventory: each node raises the same alert.
    let files = format!("[[files]]\npath = \"{}\"\nname = \"pay\"\n", cert.display());
    let node = |name: &str| alerting_node(dir.path(), name, port, &key, &receiver, &files);
    let (a, b, c) = (node("a"), node("b"), node("c"));
    let expiring = |r: &common::receiver::Receiver| -> Vec<String> {
        r.requests()
            .iter()
            .filter(|q| {
                q.json()["type"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("expiring")
                    || q.json()["kind"] == "expiring"
                    || String::from_utf8_lossy(&q.body).contains("expiring")
            })
            .map(|q| q.headers["webhook-id"].clone())
            .collect()
    };

    // a's attempt fails (500): its claim is given back; b's copy is then sent, with a's id.
    receiver.respond(500, &[]);
    ok(certctl_config(&a, &["scan"]));
    assert_eq!(expiring(&receiver).len(), 1, "a tried once");
    // The nodes open the alert in different seconds, as nodes do: their own resolution ids
    // then differ (they carry the opening time), and the fleet must still send one.
    std::thread::sleep(Duration::from_millis(1100));
    ok(certctl_config(&b, &["scan"]));
    let ids = expiring(&receiver);
    assert_eq!(ids.len(), 2, "b sent the alert a could not: {ids:?}");
    assert_eq!(ids[0], ids[1], "the same webhook-id from either node");

    // c's copy, and a's retry, were delivered elsewhere: nothing more reaches the receiver.
    ok(certctl_config(&c, &["scan"]));
    std::thread::sleep(Duration::from_millis(1500));
    ok(certctl_config(&a, &["alerts", "deliver"]));
    assert_eq!(expiring(&receiver), ids, "delivered once fleet-wide");
    let listed = stdout(&ok(certctl_config(&a, &["alerts", "list"])));
    assert!(
        !listed.contains("pending") && !listed.contains("retrying"),
        "a's copy is settled: {listed}"
    );

    // Renewed: the resolution reaches the receiver once too.
    let kinds = |r: &common::receiver::Receiver| -> Vec<(String, String)> {
        r.requests()
            .iter()
            .map(|q| {
                let kind = q.json()["type"].as_str().unwrap_or_default().to_string();
                (kind, q.headers["webhook-id"].clone())
            })
            .collect()
    };
    let fresh = pki.leaf(&["pay.example.test"], -1, 200, SignedBy::Intermediate);
    std::fs::write(&cert, &fresh.pem).unwrap();
    for config in [&a, &b, &c] {
        ok(certctl_config(config, &["scan"]));
    }
    let count =
        |seen: &[(String, String)], kind: &str| seen.iter().filter(|(k, _)| k == kind).count();
    let seen = kinds(&receiver);
    assert_eq!(count(&seen, "certctl.resolved"), 1, "{seen:?}");
    assert_eq!(count(&seen, "certctl.certificate_changed"), 1, "{seen:?}");
    assert_eq!(seen.len(), 4, "nothing else: {seen:?}");

    // The old certificate comes back (a rollback): a new episode, new messages, each once.
    std::fs::write(&cert, &leaf.pem).unwrap();
    for config in [&a, &b, &c] {
        ok(certctl_config(config, &["scan"]));
    }
    let again = kinds(&receiver);
    let new = &again[seen.len()..];
    assert_eq!(
        count(new, "certctl.expiring"),
        1,
        "fired again, once: {again:?}"
    );
    assert!(
        new.iter()
            .all(|(_, id)| seen.iter().all(|(_, old)| old != id)),
        "new messages have new webhook-ids: {again:?}"
    );
    let mut ids: Vec<&String> = new.iter().map(|(_, id)| id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), new.len(), "each once: {again:?}");
}

#[test]
fn a_holder_paused_past_its_lease_takes_no_further_step_when_it_wakes() {
    let pebble = Pebble::start(PebbleOptions::default());
    let (_rt, _server, port, dir, key) = setup();
    // The hook stops (SIGSTOP) the certctl that runs it in the middle of the order, once.
    let marker = dir.path().join("paused");
    let challenge = signalling_dns01(dir.path(), &pebble, &marker, "kill -STOP $PPID");
    let a = node_config_with(dir.path(), "a", port, &key, &pebble, &challenge);
    let b = node_config_with(dir.path(), "b", port, &key, &pebble, &challenge);
    let paused = std::process::Command::new(env!("CARGO_BIN_EXE_certctl"))
        .args([
            "issue",
            "shop",
            "-o",
            "json",
            "--config",
            a.to_str().unwrap(),
        ])
        .env_remove("CERTCTL_STORE")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("certctl issue");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !marker.exists() {
        assert!(Instant::now() < deadline, "a never reached the challenge");
        std::thread::sleep(Duration::from_millis(50));
    }

    // b waits out a's lease, adopts its order and finishes it.
    let report = renew_json(&ok(certctl_config(&b, &["renew", "shop", "-o", "json"])));
    assert_eq!(report["resumed"], true, "{report}");
    assert_eq!(orders_in(&pebble), 1);

    // a wakes long past its deadline: it stops at once, before any further step of the order.
    let pid = paused.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-CONT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let out = paused.wait_with_output().unwrap();
    let woke = renew_json(&out);
    assert_eq!(woke["result"], "failed", "{woke}\n{}", stderr(&out));
    assert!(
        woke["error"]
            .as_str()
            .unwrap_or_default()
            .contains("is lost"),
        "the lease, not the CA, ended it: {woke}"
    );
    assert_eq!(orders_in(&pebble), 1);
    assert!(
        !dir.path().join("a/state/certs/shop/current").exists(),
        "a installed nothing"
    );
}

/// Waits until `f` holds, at most `secs` seconds.
fn wait_until(what: &str, secs: u64, f: &dyn Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "{what} within {secs} s");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The certificate node `node` has installed, if any.
fn installed(dir: &std::path::Path, node: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(node).join("state/certs/shop/current/cert.pem")).ok()
}

/// What a node cut off from the database keeps doing (serving its CLI and its deployed
/// certificates) and stops doing (renewing), and that it catches up when it is let back in:
/// b logs in as its own role, which is refused (`NOLOGIN`) and its sessions terminated.
#[test]
fn a_node_refused_by_the_database_keeps_its_certificates_and_catches_up() {
    let pebble = Pebble::start(PebbleOptions::default());
    let (rt, _server, port, dir, key) = setup();
    let a = node_config(dir.path(), "a", port, &key, &pebble);
    let b = node_config(dir.path(), "b", port, &key, &pebble);
    let text = std::fs::read_to_string(&b).unwrap();
    std::fs::write(
        &b,
        text.replace("postgres://postgres@", "postgres://node_b@"),
    )
    .unwrap();
    let db = rt.block_on(admin(port));
    let sql = |statement: &str| {
        rt.block_on(db.batch_execute(statement))
            .unwrap_or_else(|e| panic!("{statement}: {e}"))
    };
    sql("CREATE ROLE node_b LOGIN SUPERUSER");
    ok(certctl_config(&a, &["issue", "shop"]));
    let daemon = start_daemon(&b);
    let first = current(dir.path(), "a", "cert.pem");
    wait_until("b installs a's certificate", 20, &|| {
        installed(dir.path(), "b").as_ref() == Some(&first)
    });
    let deployed = dir.path().join("deploy-b/fullchain.pem");
    let served = std::fs::read_to_string(&deployed).unwrap();

    // Cut off: b's role may no longer log in, and its sessions are ended.
    sql("ALTER ROLE node_b NOLOGIN; \
         SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'node_b'");
    let status = || stdout(&ok(certctl_config(&b, &["status"])));
    wait_until("b's status reports the cut-off", 15, &|| {
        status().contains("CANNOT REACH")
    });
    assert!(
        status().contains("node_b"),
        "the refusal says why: {}",
        status()
    );
    // a renews meanwhile; b cannot renew, but its CLI answers and its certificates stay.
    ok(certctl_config(&a, &["renew", "shop", "--force"]));
    let second = current(dir.path(), "a", "cert.pem");
    let out = certctl_config(&b, &["renew", "shop", "--force"]);
    assert!(!out.status.success(), "b renewed while cut off");
    assert!(stderr(&out).contains("fleet store"), "{}", stderr(&out));
    assert_eq!(orders_in(&pebble), 2, "the cut-off node placed no order");
    let listed = stdout(&ok(certctl_config(&b, &["list"])));
    assert!(listed.contains("shop.example.test"), "{listed}");
    assert_eq!(installed(dir.path(), "b"), Some(first));
    assert_eq!(std::fs::read_to_string(&deployed).unwrap(), served);

    // Let back in: b installs what was published while it was away (that notification was
    // never delivered to it).
    sql("ALTER ROLE node_b LOGIN");
    wait_until(
        "b installs a's renewal after it is let back in",
        20,
        &|| installed(dir.path(), "b").as_ref() == Some(&second),
    );
    wait_until("b deploys it", 10, &|| {
        std::fs::read_to_string(&deployed).unwrap() != served
    });
    assert!(status().contains("fleet: node b in"), "{}", status());
    assert_eq!(orders_in(&pebble), 2);
    stop_daemon(daemon);
}

/// The database stopped as `pg_ctl stop -m immediate` does and started again (crash recovery):
/// renewals meanwhile fail clearly without an order, the daemon rides it out, and afterwards the
/// fleet renews and propagates as before, its leases and records intact.
#[test]
fn the_database_stopped_and_started_again_is_ridden_out() {
    let pebble = Pebble::start(PebbleOptions::default());
    let (_rt, mut server, port, dir, key) = setup();
    let a = node_config(dir.path(), "a", port, &key, &pebble);
    let b = node_config(dir.path(), "b", port, &key, &pebble);
    ok(certctl_config(&a, &["issue", "shop"]));
    let daemon = start_daemon(&b);
    let first = current(dir.path(), "a", "cert.pem");
    wait_until("b installs a's certificate", 20, &|| {
        installed(dir.path(), "b").as_ref() == Some(&first)
    });

    server.crash_postgres();
    let out = certctl_config(&a, &["renew", "shop", "--force"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("fleet store"), "{}", stderr(&out));
    let status = || stdout(&ok(certctl_config(&b, &["status"])));
    wait_until("b's status reports the outage", 15, &|| {
        status().contains("CANNOT REACH")
    });
    assert_eq!(orders_in(&pebble), 1);
    assert_eq!(installed(dir.path(), "b"), Some(first.clone()));

    server.restart_postgres(port);
    wait_until("b rejoins", 20, &|| status().contains("fleet: node b in"));
    // The records survived the crash: a renews (its lease and version counters are there).
    let renewed = renew_json(&ok(certctl_config(
        &a,
        &["renew", "shop", "--force", "-o", "json"],
    )));
    assert_eq!(renewed["result"], "installed", "{renewed}");
    assert!(
        renewed["renewed_by"].is_null(),
        "a renewed it itself: {renewed}"
    );
    let second = current(dir.path(), "a", "cert.pem");
    assert_ne!(second, first);
    wait_until("b installs the renewal", 10, &|| {
        installed(dir.path(), "b").as_ref() == Some(&second)
    });
    assert_eq!(orders_in(&pebble), 2);
    stop_daemon(daemon);
}

/// A node's config for the alerting tests: short lease (3 s) and store timeout (2 s), a
/// dispatcher every second, retries after 1 s, one generic webhook to `receiver`, then `extra`
/// (more keys of that webhook, then more tables).
fn alerting_node(
    dir: &std::path::Path,
    name: &str,
    port: u16,
    key: &std::path::Path,
    receiver: &common::receiver::Receiver,
    extra: &str,
) -> std::path::PathBuf {
    let home = dir.join(name);
    std::fs::create_dir_all(&home).unwrap();
    write_config(
        &home,
        &format!(
            "[store]\npath = \"{h}/state/store\"\nurl = \"postgres://postgres@127.0.0.1:{port}/postgres?sslmode=disable\"\ntimeout = \"2s\"\n\
             [fleet]\nnode = \"{name}\"\nkey_file = \"{k}\"\nlease_ttl = \"3s\"\n\
             [daemon]\ndispatch_interval = \"1s\"\n\
             [alerts]\nretry_initial = \"1s\"\n\
             [[webhook]]\nname = \"ops\"\nformat = \"generic\"\nurl = \"{u}\"\ntimeout = \"2s\"\n{extra}",
            h = home.display(),
            k = key.display(),
            u = receiver.url("/hook"),
        ),
    )
}

/// A database outage seen by three daemons is one `store_unreachable` alert (from the first
/// node alive, a), sent while the database is down, and one resolution when it is back.
#[test]
fn a_database_outage_is_one_alert_for_the_fleet_and_resolved_once() {
    let (_rt, mut server, port, dir, key) = setup();
    let receiver = common::receiver::Receiver::start();
    let node = |name: &str| alerting_node(dir.path(), name, port, &key, &receiver, "");
    let configs = [node("c"), node("a"), node("b")];
    let daemons: Vec<_> = configs.iter().map(|c| start_daemon(c)).collect();
    let alive = || -> usize {
        let status: serde_json::Value = serde_json::from_slice(
            &ok(certctl_config(
                &configs[0],
                &["fleet", "status", "-o", "json"],
            ))
            .stdout,
        )
        .unwrap();
        status["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["alive"] == true)
            .count()
    };
    wait_until("three nodes alive", 20, &|| alive() == 3);
    // Each daemon has seen the other two since its last heartbeat.
    std::thread::sleep(Duration::from_secs(2));
    let sent = |kind: &str| -> Vec<serde_json::Value> {
        receiver
            .requests()
            .iter()
            .map(|q| q.json())
            .filter(|j| j["type"] == kind)
            .collect()
    };

    server.crash_postgres();
    wait_until("the outage is reported", 30, &|| {
        !sent("certctl.store_unreachable").is_empty()
    });
    // Every node has been cut off for well over its lease time (3 s) by now: still one alert.
    std::thread::sleep(Duration::from_secs(5));
    let raised = sent("certctl.store_unreachable");
    assert_eq!(raised.len(), 1, "one alert for the fleet: {raised:#?}");
    let text = raised[0].to_string();
    assert!(
        text.contains("node a") && text.contains(&format!("127.0.0.1:{port}")),
        "{text}"
    );
    let shown = stdout(&ok(certctl_config(&configs[1], &["alerts", "list"])));
    assert!(shown.contains("store_unreachable"), "{shown}");

    server.restart_postgres(port);
    wait_until("the outage is resolved", 30, &|| {
        !sent("certctl.resolved").is_empty()
    });
    std::thread::sleep(Duration::from_secs(3));
    let resolved = sent("certctl.resolved");
    assert_eq!(resolved.len(), 1, "{resolved:#?}");
    assert!(
        resolved[0].to_string().contains("store_unreachable"),
        "{}",
        resolved[0]
    );
    assert_eq!(sent("certctl.store_unreachable").len(), 1);
    for daemon in daemons {
        stop_daemon(daemon);
    }
}

/// `certctl list` in fleet mode lists every node's locations: an endpoint both nodes scan once,
/// each node's own file under its name. A forgotten location leaves it; with the database down,
/// `list` answers from the node's own store and says that it is stale.
#[test]
fn list_shows_the_fleets_inventory_and_the_nodes_own_when_the_store_is_down() {
    let (_rt, mut server, port, dir, key) = setup();
    let pki = Pki::new();
    let shared = pki.leaf(&["pay.example.test"], -10, 60, SignedBy::Intermediate);
    let tls = common::TlsServer::start(
        "127.0.0.1:0",
        pki.full_chain(&shared),
        &shared.key_der,
        false,
    );
    let node = |name: &str, days: i64| {
        let home = dir.path().join(name);
        std::fs::create_dir_all(&home).unwrap();
        let own = pki.leaf(
            &[&format!("{name}.example.test")],
            -300,
            days,
            SignedBy::Intermediate,
        );
        let file = home.join("own.pem");
        std::fs::write(&file, &own.pem).unwrap();
        write_config(
            &home,
            &format!(
                "[store]\npath = \"{h}/state/store\"\nurl = \"postgres://postgres@127.0.0.1:{port}/postgres?sslmode=disable\"\n\
                 [fleet]\nnode = \"{name}\"\nkey_file = \"{k}\"\n\
                 [[endpoint]]\naddress = \"{addr}\"\nserver_name = \"pay.example.test\"\nname = \"pay\"\n\
                 [[files]]\npath = \"{f}\"\nname = \"own-{name}\"\n",
                h = home.display(),
                k = key.display(),
                addr = tls.addr,
                f = file.display(),
            ),
        )
    };
    let (a, b) = (node("a", 20), node("b", 200));
    ok(certctl_config(&a, &["scan"]));
    ok(certctl_config(&b, &["scan"]));

    let listed = |config: &std::path::Path| -> serde_json::Value {
        serde_json::from_slice(&ok(certctl_config(config, &["list", "-o", "json"])).stdout).unwrap()
    };
    let targets = |doc: &serde_json::Value| -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = doc["locations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["name"].as_str().unwrap().to_string(),
                    l["node"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        out.sort();
        out
    };
    // Either node lists the fleet: the endpoint once (whoever scanned it last), both files.
    for config in [&a, &b] {
        let doc = listed(config);
        let t = targets(&doc);
        assert_eq!(
            t,
            [
                ("own-a".to_string(), "a".to_string()),
                ("own-b".to_string(), "b".to_string()),
                ("pay".to_string(), "b".to_string())
            ],
            "{doc:#}"
        );
    }
    // The table: another node's file is named with its node; the expiring one is judged so.
    let out = ok(certctl_config(&b, &["list", "--status", "warning"]));
    let table = stdout(&out);
    assert!(
        table.contains("a:") && table.contains("own.pem"),
        "{table}{}",
        stderr(&out)
    );
    assert!(
        !table.contains("own-b"),
        "b's file expires in 200 days: {table}"
    );
    assert!(
        stderr(&out).contains("fleet inventory from") && stderr(&out).contains("2 nodes"),
        "{}",
        stderr(&out)
    );

    // a forgets its file: it leaves the fleet's inventory.
    ok(certctl_config(&a, &["forget", "own-a"]));
    let t = targets(&listed(&b));
    assert!(t.iter().all(|(n, _)| n != "own-a"), "{t:?}");
    assert_eq!(t.len(), 2, "{t:?}");

    // The database down: each node lists its own store, and says so.
    server.crash_postgres();
    let out = ok(certctl_config(&b, &["list", "-o", "json"]));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = doc["locations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "b's own: {doc:#}");
    assert!(
        names.contains(&"own-b") && names.contains(&"pay"),
        "{names:?}"
    );
    assert!(
        stderr(&out).contains("cannot be read") && stderr(&out).contains("stale"),
        "{}",
        stderr(&out)
    );
    // A scan still records here, and warns that the fleet did not get it.
    let out = ok(certctl_config(&b, &["scan"]));
    assert!(
        stderr(&out).contains("fleet's inventory was not updated"),
        "{}",
        stderr(&out)
    );
}

/// A daemon whose own attempt gave up waiting for another node's lease takes the renewal over
/// as soon as that lease lapses (its holder killed mid-order), not at its next scheduled check,
/// and resumes the same order.
#[test]
fn a_daemon_takes_over_a_renewal_left_unfinished_as_soon_as_its_lease_lapses() {
    let pebble = Pebble::start(PebbleOptions::default());
    let (_rt, _server, port, dir, key) = setup();
    // a's hook holds the order for 4 s (b's daemon starts and gives up meanwhile), then kills a.
    let marker = dir.path().join("killed");
    let challenge = signalling_dns01(dir.path(), &pebble, &marker, "sleep 4; kill -9 $PPID");
    let a = node_config_with(dir.path(), "a", port, &key, &pebble, &challenge);
    let b = node_config_with(dir.path(), "b", port, &key, &pebble, &challenge);
    // b waits at most 3 s for a lease another node holds (and for each ACME step).
    let text = std::fs::read_to_string(&b).unwrap();
    std::fs::write(
        &b,
        text.replace(
            "[acme.accounts.pebble]",
            "[acme]\ntimeout = \"3s\"\n[acme.accounts.pebble]",
        ),
    )
    .unwrap();
    let holder = std::process::Command::new(env!("CARGO_BIN_EXE_certctl"))
        .args(["issue", "shop", "--config", a.to_str().unwrap()])
        .env_remove("CERTCTL_STORE")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("certctl issue");
    wait_until("a reaches the challenge", 20, &|| marker.exists());
    let log = dir.path().join("b.log");
    let daemon = start_daemon_logged(&b, Some(&log));
    let output = holder.wait_with_output().unwrap();
    assert!(!output.status.success(), "a was killed mid-order");
    let killed = Instant::now();
    assert_eq!(orders_in(&pebble), 1);
    let b_log = || std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        b_log().contains("another node is renewing"),
        "b's own attempt met a's lease: {}",
        b_log()
    );

    // a's lease (6 s, renewed every 2 s) lapses; b takes over then, with a's order.
    wait_until("b installs the certificate", 30, &|| {
        installed(dir.path(), "b").is_some()
    });
    let took = killed.elapsed();
    assert!(
        b_log().contains("stopped before it finished; taking it over"),
        "woken by the lapse, not by its schedule: {}",
        b_log()
    );
    assert_eq!(orders_in(&pebble), 1, "the same order, resumed");
    assert!(
        took < Duration::from_secs(15),
        "within the lease time and a second: {took:?}"
    );
    // The woken pass ran once: the scheduler did not spin on the wake while it ran.
    let skipped = b_log().matches("still going").count();
    assert_eq!(skipped, 0, "{}", b_log());
    stop_daemon(daemon);
}

/// The serial the server on 127.0.0.1:`port` serves, if a handshake succeeds.
fn served_serial(port: u16) -> Option<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let target =
        certctl::inventory::target::parse_endpoint(&format!("127.0.0.1:{port}"), None).unwrap();
    let scanner = certctl::verify::scanner();
    rt.block_on(certctl::verify::served(&scanner, &target))
        .serial
}

/// A renewal on one node is served by the nginx of every other node within 5 s: each daemon is
/// notified, installs the version, deploys it to its own nginx, reloads it and verifies it.
#[test]
fn a_new_certificate_is_served_by_every_nodes_nginx_within_5_s() {
    let pebble = Pebble::start(PebbleOptions::default());
    let (_rt, _server, port, dir, key) = setup();
    let pki = Pki::new();
    let placeholder = pki.leaf(&["shop.example.test"], -1, 30, SignedBy::Intermediate);
    let mut challenge = format!(
        "type = \"http-01\"\nlisten = \"127.0.0.1:{}\"\n",
        pebble.http_port
    );
    let mut servers = Vec::new();
    for n in ["b", "c"] {
        let files = dir.path().join(format!("nginx-{n}"));
        std::fs::create_dir_all(&files).unwrap();
        std::fs::write(files.join("www.crt"), &placeholder.pem).unwrap();
        std::fs::write(files.join("www.key"), &placeholder.key_pem).unwrap();
        let nginx = Nginx::start(&[NginxSite {
            cert: files.join("www.crt"),
            key: files.join("www.key"),
            extra: String::new(),
        }]);
        challenge.push_str(&format!(
            "[[certificate.deploy]]\nname = \"nginx-{n}\"\nnode = \"{n}\"\nfullchain = \"{f}/www.crt\"\nkey = \"{f}/www.key\"\n\
             reload = [{{ type = \"command\", command = [\"{bin}\", \"-c\", \"{conf}\", \"-s\", \"reload\"] }}]\n\
             verify = [{{ address = \"127.0.0.1:{p}\" }}]\n",
            f = files.display(),
            bin = nginx_binary(),
            conf = nginx.dir.path().join("nginx.conf").display(),
            p = nginx.ports[0],
        ));
        servers.push(nginx);
    }
    let configs: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|n| node_config_with(dir.path(), n, port, &key, &pebble, &challenge))
        .collect();
    let issued = renew_json(&ok(certctl_config(
        &configs[0],
        &["issue", "shop", "-o", "json"],
    )));
    let first = issued["serial"].as_str().unwrap().to_string();
    let daemons: Vec<_> = configs[1..].iter().map(|c| start_daemon(c)).collect();
    let serving = |serial: &str| {
        servers
            .iter()
            .all(|s| served_serial(s.ports[0]).is_some_and(|x| x.eq_ignore_ascii_case(serial)))
    };
    wait_until("both nginx serve the first certificate", 30, &|| {
        serving(&first)
    });

    let renewed = renew_json(&ok(certctl_config(
        &configs[0],
        &["renew", "shop", "--force", "-o", "json"],
    )));
    let issued = Instant::now();
    let second = renewed["serial"].as_str().unwrap().to_string();
    assert_ne!(second, first);
    wait_until("both nginx serve the renewal", 5, &|| serving(&second));
    let took = issued.elapsed();
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(orders_in(&pebble), 2, "b and c installed a's version");
    for d in daemons {
        stop_daemon(d);
    }
}

/// 400 alerts that three nodes all raise, with the receiver down and then up: once it is back
/// and the three nodes deliver at the same time, each alert reaches it exactly once, and no
/// webhook-id repeats.
#[test]
fn four_hundred_alerts_with_the_receiver_down_then_up_arrive_once_each() {
    const N: usize = 400;
    let (_rt, _server, port, dir, key) = setup();
    let receiver = common::receiver::Receiver::start();
    let pki = Pki::new();
    // One bundle of N distinct certificates, each 10 days from expiry: N expiring alerts.
    let bundle: String = (0..N)
        .map(|i| {
            pki.leaf(
                &[&format!("c{i}.example.test")],
                -300,
                10,
                SignedBy::Intermediate,
            )
            .pem
        })
        .collect();
    let certs = dir.path().join("bundle.pem");
    std::fs::write(&certs, bundle).unwrap();
    let extra = format!(
        "events = [\"expiring\"]\n[[files]]\npath = \"{}\"\n",
        certs.display()
    );
    let node = |name: &str| alerting_node(dir.path(), name, port, &key, &receiver, &extra);
    let configs = [node("a"), node("b"), node("c")];

    // Down (it accepts connections and never answers): every node scans, tries, and queues.
    receiver.hang(true);
    for config in &configs {
        ok(certctl_config(config, &["scan"]));
        let listed = stdout(&ok(certctl_config(config, &["alerts", "list"])));
        assert!(
            listed.contains(&format!("deliveries queued: {N}")),
            "{listed}"
        );
    }
    assert!(receiver.requests().is_empty());

    // Up: the three nodes deliver at the same time, round after round, until every node's queue
    // is empty (the copies another node sent are settled at their next attempt, not sent).
    receiver.hang(false);
    let queued = |config: &std::path::Path| {
        stdout(&ok(certctl_config(config, &["alerts", "list"])))
            .lines()
            .find_map(|l| {
                l.strip_prefix("deliveries queued: ")?
                    .trim()
                    .parse::<usize>()
                    .ok()
            })
            .unwrap_or(usize::MAX)
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while configs.iter().any(|c| queued(c) > 0) {
        assert!(Instant::now() < deadline, "the queues never drained");
        std::thread::sleep(Duration::from_millis(500));
        std::thread::scope(|s| {
            for config in &configs {
                s.spawn(move || ok(certctl_config(config, &["alerts", "deliver"])));
            }
        });
    }
    let accepted = receiver.requests();
    let mut ids: Vec<&str> = accepted
        .iter()
        .map(|q| q.headers["webhook-id"].as_str())
        .collect();
    assert_eq!(accepted.len(), N, "each alert once, nothing else");
    let mut alerts: Vec<String> = accepted
        .iter()
        .map(|q| {
            q.json()["data"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    alerts.sort();
    alerts.dedup();
    assert_eq!(alerts.len(), N, "every alert arrived");
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), N, "no webhook-id twice");
}

/// A node killed without leaving is `node_down` once for the fleet (the other two daemons both
/// see it; the claims send it once), resolved when it is back; killed again and forgotten with
/// `certctl fleet forget`, it is resolved too and leaves `fleet status`.
#[test]
fn a_node_that_stops_heartbeating_is_one_alert_until_it_is_back_or_forgotten() {
    let (_rt, _server, port, dir, key) = setup();
    let receiver = common::receiver::Receiver::start();
    let node = |name: &str| alerting_node(dir.path(), name, port, &key, &receiver, "");
    let configs = [node("a"), node("b"), node("c")];
    let _a = start_daemon(&configs[0]);
    let _b = start_daemon(&configs[1]);
    let mut c = start_daemon(&configs[2]);
    let alive = |name: &str| -> bool {
        let status: serde_json::Value = serde_json::from_slice(
            &ok(certctl_config(
                &configs[0],
                &["fleet", "status", "-o", "json"],
            ))
            .stdout,
        )
        .unwrap();
        status["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["name"] == name && n["alive"] == true)
    };
    wait_until("c is alive", 20, &|| alive("c"));
    let sent = |kind: &str| -> Vec<serde_json::Value> {
        receiver
            .requests()
            .iter()
            .map(|q| q.json())
            .filter(|j| j["type"] == kind)
            .collect()
    };

    c.kill().unwrap();
    c.wait().unwrap();
    wait_until("c is reported down", 30, &|| {
        !sent("certctl.node_down").is_empty()
    });
    std::thread::sleep(Duration::from_secs(3));
    let down = sent("certctl.node_down");
    assert_eq!(down.len(), 1, "once for the fleet: {down:#?}");
    assert!(down[0].to_string().contains("fleet node c"), "{}", down[0]);

    // Back: resolved, once.
    let mut c = start_daemon(&configs[2]);
    wait_until("c's return resolves it", 30, &|| {
        !sent("certctl.resolved").is_empty()
    });
    // Killed again, then forgotten (refused while it was alive): resolved again, and gone.
    c.kill().unwrap();
    c.wait().unwrap();
    wait_until("c is reported down again", 30, &|| {
        sent("certctl.node_down").len() == 2
    });
    ok(certctl_config(&configs[0], &["fleet", "forget", "c"]));
    let all = || {
        receiver
            .requests()
            .iter()
            .map(|q| {
                format!(
                    "{} {} {}",
                    q.headers["webhook-id"],
                    q.json()["type"],
                    q.json()["data"]["summary"]
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    // Forgotten: the last word on c is a resolution. A node that noticed c down only after the
    // other had resolved it may send that firing again, then its own resolution (a known race of
    // the claims, see the README): never more, and never the same webhook-id twice.
    wait_until("forgetting c resolves it", 30, &|| {
        let last = receiver.requests().last().map(|q| q.json()["type"].clone());
        sent("certctl.resolved").len() >= 2 && last == Some("certctl.resolved".into())
    });
    std::thread::sleep(Duration::from_secs(3));
    let requests = receiver.requests();
    assert_eq!(
        requests.last().map(|q| q.json()["type"].clone()),
        Some("certctl.resolved".into()),
        "{}",
        all()
    );
    assert!(sent("certctl.node_down").len() <= 3, "{}", all());
    let mut ids: Vec<&str> = requests
        .iter()
        .map(|q| q.headers["webhook-id"].as_str())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), requests.len(), "{}", all());
    let status = stdout(&ok(certctl_config(&configs[0], &["fleet", "status"])));
    assert!(!status.lines().any(|l| l.starts_with("c ")), "{status}");
    let out = certctl_config(&configs[0], &["fleet", "forget", "b"]);
    assert!(!out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("is alive"), "{}", stderr(&out));
}

/// A TCP front for `upstream` on a loopback port: counts the connections it accepts, closes the
/// first `drop_first` of them at once (a path that fails from one vantage), and holds each
/// other one `delay` before relaying it (a network's round trip).
fn tcp_front(
    upstream: std::net::SocketAddr,
    drop_first: usize,
    delay: Duration,
) -> (std::net::SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::Ordering;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = Arc::clone(&accepted);
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            if count.fetch_add(1, Ordering::SeqCst) < drop_first {
                drop(client);
                continue;
            }
            std::thread::spawn(move || {
                std::thread::sleep(delay);
                let Ok(server) = std::net::TcpStream::connect(upstream) else {
                    return;
                };
                let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let up = std::thread::spawn(move || {
                    let _ = std::io::copy(&mut c2, &mut s2);
                    let _ = s2.shutdown(std::net::Shutdown::Write);
                });
                let (mut c, mut s) = (client, server);
                let _ = std::io::copy(&mut s, &mut c);
                let _ = c.shutdown(std::net::Shutdown::Write);
                let _ = up.join();
            });
        }
    });
    (addr, accepted)
}

/// Three daemons with one config divide the scheduled scan: every endpoint is scanned once in
/// the run (counted at the server), by more than one node, and every node's store holds the
/// whole run (the expired endpoint, scanned by one node, is one alert). An endpoint one node
/// cannot reach but another can is not unreachable; one that no node reaches is, once
/// (`unreachable_after = 1`, so a single node's failure would alert).
#[test]
fn the_scheduled_scan_is_divided_and_unreachable_needs_a_second_node() {
    let (_rt, _server, port, dir, key) = setup();
    let receiver = common::receiver::Receiver::start();
    let pki = Pki::new();
    let good = pki.leaf(&["*.scan.example.test"], -10, 60, SignedBy::Intermediate);
    let old = pki.leaf(&["old.scan.example.test"], -90, -1, SignedBy::Intermediate);
    let tls = common::TlsServer::start("127.0.0.1:0", pki.full_chain(&good), &good.key_der, false);
    let expired =
        common::TlsServer::start("127.0.0.1:0", pki.full_chain(&old), &old.key_der, false);
    // Each batch behind the front takes a second: every node has joined before the last one.
    let (front, scanned) = tcp_front(tls.addr, 0, Duration::from_secs(1));
    let (flaky, _) = tcp_front(tls.addr, 1, Duration::ZERO);
    let closed = closed_port();
    let mut endpoints = String::new();
    for i in 0..12 {
        endpoints.push_str(&format!(
            "[[endpoint]]\naddress = \"{front}\"\nserver_name = \"e{i}.scan.example.test\"\n"
        ));
    }
    endpoints.push_str(&format!(
        "[[endpoint]]\naddress = \"{}\"\nserver_name = \"old.scan.example.test\"\n\
         [[endpoint]]\naddress = \"{flaky}\"\nserver_name = \"flaky.scan.example.test\"\n\
         [[endpoint]]\naddress = \"{closed}\"\nserver_name = \"gone.scan.example.test\"\n",
        expired.addr
    ));
    let node = |name: &str| {
        let home = dir.path().join(name);
        std::fs::create_dir_all(&home).unwrap();
        write_config(
            &home,
            &format!(
                "[store]\npath = \"{h}/state/store\"\nurl = \"postgres://postgres@127.0.0.1:{port}/postgres?sslmode=disable\"\n\
                 [fleet]\nnode = \"{name}\"\nkey_file = \"{k}\"\nlease_ttl = \"6s\"\n\
                 [daemon]\ndispatch_interval = \"1s\"\n\
                 [alerts]\nunreachable_after = 1\n\
                 [scan]\nschedule = \"0 0 1 1 *\"\nca_files = [\"{root}\"]\n\
                 [[webhook]]\nname = \"ops\"\nformat = \"generic\"\nurl = \"{u}\"\ntimeout = \"2s\"\n{endpoints}",
                h = home.display(),
                k = key.display(),
                root = pki.root_path().display(),
                u = receiver.url("/hook"),
            ),
        )
    };
    let names = ["a", "b", "c"];
    let configs: Vec<_> = names.iter().map(|n| node(n)).collect();
    let logs: Vec<_> = names
        .iter()
        .map(|n| dir.path().join(format!("{n}.log")))
        .collect();
    let daemons: Vec<_> = configs
        .iter()
        .zip(&logs)
        .map(|(c, l)| start_daemon_logged(c, Some(l)))
        .collect();
    let log = |i: usize| std::fs::read_to_string(&logs[i]).unwrap_or_default();
    let started = Instant::now();
    while !(0..3).all(|i| log(i).contains("fleet scan run over")) {
        let all: String = (0..3).map(log).collect();
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "not every node ended the run within 60 s:\n{all}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let all: String = (0..3).map(log).collect();

    // Once each in the run, from more than one node.
    assert_eq!(
        scanned.load(std::sync::atomic::Ordering::SeqCst),
        12,
        "each endpoint behind the front is scanned once:\n{all}"
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let scanners: Vec<String> = rt.block_on(async {
        admin(port)
            .await
            .query(
                "SELECT DISTINCT node FROM fleet_locations WHERE scope = ''",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    });
    assert!(
        scanners.len() >= 2,
        "one node scanned everything: {scanners:?}\n{all}"
    );
    assert!(
        all.contains("another node looks again"),
        "failures were queued for a second look:\n{all}"
    );
    assert!(
        all.contains("not reachable from node") && all.contains("reachable from this node"),
        "the flaky endpoint was reached from a second node:\n{all}"
    );

    // Every node judged the whole run; each alert went out once.
    let sent = |kind: &str| -> Vec<String> {
        receiver
            .requests()
            .iter()
            .map(|q| q.json())
            .filter(|j| j["type"] == kind)
            .map(|j| j.to_string())
            .collect()
    };
    wait_until(
        "the expired endpoint and the closed port alert",
        30,
        &|| sent("certctl.expired").len() == 1 && sent("certctl.endpoint_unreachable").len() == 1,
    );
    std::thread::sleep(Duration::from_secs(3));
    let expired_sent = sent("certctl.expired");
    assert_eq!(expired_sent.len(), 1, "{expired_sent:#?}");
    assert!(
        expired_sent[0].contains("old.scan.example.test"),
        "{expired_sent:?}"
    );
    let unreachable = sent("certctl.endpoint_unreachable");
    assert_eq!(unreachable.len(), 1, "{unreachable:#?}");
    assert!(
        unreachable[0].contains("gone.scan.example.test") && !unreachable[0].contains("flaky"),
        "only the port no node reaches: {unreachable:?}"
    );
    for config in &configs {
        let shown = stdout(&ok(certctl_config(config, &["alerts", "list"])));
        assert!(
            shown.contains("expired") && shown.contains("endpoint_unreachable"),
            "{shown}"
        );
    }
    for daemon in daemons {
        stop_daemon(daemon);
    }
}
