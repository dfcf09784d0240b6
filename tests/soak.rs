//! Crash consistency: `certctl run` renewing and deploying continuously against a real Pebble
//! (with validation sleeps, so orders stay open), killed with SIGKILL at random moments, then
//! restarted. After every kill: the store opens, `audit verify` passes, the installed key and
//! certificate (in the layout and at the deploy target) belong together and are complete. At the
//! end: every alert event recorded was delivered to the receiver, and Pebble saw at most one
//! extra order per crash.
//!
//! CI runs 10 cycles; `CERTCTL_SOAK_CYCLES=30 cargo test --release --test soak -- --nocapture`
//! is the long run (its last figures are in the README).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::pebble::{Pebble, PebbleOptions};
use common::receiver::Receiver;
use common::*;

struct Setup {
    dir: tempfile::TempDir,
    pebble: Pebble,
    rx: Receiver,
}

impl Setup {
    /// `renewing`: renew on every tick (renew_before far beyond the lifetime), or only when due.
    fn config(&self, renewing: bool) -> PathBuf {
        let d = self.dir.path();
        let renew_before = if renewing {
            "renew_before = \"100000d\"\n"
        } else {
            ""
        };
        let text = format!(
            "[store]\npath = \"{d}/state/store\"\n[renew]\nschedule = \"* * * * * *\"\n[daemon]\ndispatch_interval = \"1s\"\nshutdown_grace = \"5s\"\n[acme]\ntimeout = \"60s\"\n[acme.accounts.pebble]\ndirectory = \"{url}\"\nagree_tos = true\nca_file = \"{ca}\"\n[[certificate]]\nname = \"www\"\ndomains = [\"www.example.test\"]\n{renew_before}[certificate.challenge]\ntype = \"http-01\"\nlisten = \"127.0.0.1:{p}\"\n[[certificate.deploy]]\nname = \"files\"\nkey = \"{d}/target/www.key\"\nfullchain = \"{d}/target/www.pem\"\nreload = [{{ type = \"command\", command = [\"sleep\", \"0.2\"] }}]\n[[webhook]]\nname = \"ops\"\nformat = \"generic\"\nurl = \"{hook}\"\ntimeout = \"2s\"\n",
            d = d.display(),
            url = self.pebble.directory(),
            ca = self.pebble.tls_root().display(),
            p = self.pebble.http_port,
            hook = self.rx.url("/hook"),
        );
        let path = d.join(if renewing {
            "renewing.toml"
        } else {
            "settled.toml"
        });
        std::fs::write(&path, text).expect("config");
        path
    }

    fn cli(&self, config: &Path, args: &[&str]) -> Output {
        certctl_config(config, args)
    }

    fn daemon(&self, config: &Path, log: &Path) -> std::process::Child {
        Command::new(env!("CARGO_BIN_EXE_certctl"))
            .args(["run", "-v", "--config"])
            .arg(config)
            .env_remove("CERTCTL_STORE")
            .env_remove("NOTIFY_SOCKET")
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(log).expect("log")))
            .spawn()
            .expect("spawn certctl run")
    }
}

/// The public key of a PEM certificate or key, via openssl.
fn public_key(pem: &str, is_cert: bool) -> String {
    let mut child = Command::new("openssl")
        .args(if is_cert {
            vec!["x509", "-noout", "-pubkey"]
        } else {
            vec!["pkey", "-pubout"]
        })
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(pem.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("openssl");
    assert!(out.status.success(), "openssl: {}\n{pem}", stderr(&out));
    stdout(&out)
}

/// A key and a certificate chain that belong together, each complete.
fn assert_pair(what: &str, key: &str, chain: &str) {
    assert!(key.contains("-----END"), "{what}: truncated key");
    assert!(
        chain.trim_end().ends_with("-----END CERTIFICATE-----"),
        "{what}: truncated chain"
    );
    assert_eq!(
        public_key(key, false),
        public_key(chain, true),
        "{what}: key and certificate do not match"
    );
}

/// What the kill interrupted, read from the state it left: an order in flight (placed, not yet
/// installed), deliveries still queued, or neither (between runs).
fn interrupted(setup: &Setup, config: &Path) -> &'static str {
    let show = stdout(&setup.cli(config, &["show", "www"]));
    let queued = serde_json::from_slice::<serde_json::Value>(
        &setup.cli(config, &["alerts", "list", "-o", "json"]).stdout,
    )
    .map(|d| d["queued"].as_u64().unwrap_or(0))
    .unwrap_or(0);
    match (show.contains("in flight:"), queued > 0) {
        (true, true) => "order in flight + deliveries queued",
        (true, false) => "order in flight",
        (false, true) => "deliveries queued",
        (false, false) => "between runs",
    }
}

#[test]
fn kill_9_during_renewals_deploys_and_deliveries_loses_nothing() {
    let cycles: usize = std::env::var("CERTCTL_SOAK_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let setup = Setup {
        dir: tempfile::tempdir().expect("tempdir"),
        pebble: Pebble::start(PebbleOptions {
            env: vec![("PEBBLE_VA_SLEEPTIME".into(), "1".into())],
            ..PebbleOptions::default()
        }),
        rx: Receiver::start(),
    };
    let renewing = setup.config(true);
    let layout = setup.dir.path().join("state/certs/www/current");
    let target = setup.dir.path().join("target");
    let mut phases: BTreeMap<&str, usize> = BTreeMap::new();
    // A cheap xorshift, seeded from the clock: kill moments differ from run to run (printed).
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        | 1;
    println!("seed {seed}");
    let started = Instant::now();
    for cycle in 0..cycles {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let after = Duration::from_millis(300 + seed % 2700);
        let log = setup.dir.path().join(format!("daemon-{cycle}.log"));
        let mut child = setup.daemon(&renewing, &log);
        std::thread::sleep(after);
        child.kill().expect("kill -9");
        child.wait().expect("reap");
        *phases.entry(interrupted(&setup, &renewing)).or_default() += 1;
        if std::env::var_os("CERTCTL_SOAK_DEBUG").is_some() {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(3).collect();
            println!("cycle {cycle} killed after {after:?}: {tail:#?}");
        }

        // The store opens and its audit chain is intact.
        let out = setup.cli(&renewing, &["list", "-o", "json"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "cycle {cycle}: {}",
            stderr(&out)
        );
        let out = setup.cli(&renewing, &["audit", "verify"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "cycle {cycle}: {}",
            stderr(&out)
        );
        // Whatever is installed is whole and matching.
        if layout.exists() {
            let read = |f: &str| std::fs::read_to_string(layout.join(f)).expect(f);
            assert_pair(
                &format!("cycle {cycle}: current"),
                &read("privkey.pem"),
                &read("fullchain.pem"),
            );
            assert_eq!(
                read("fullchain.pem"),
                format!("{}{}", read("cert.pem"), read("chain.pem")),
                "cycle {cycle}: fullchain = cert + chain"
            );
        }
        if target.join("www.key").exists() {
            let read = |f: &str| std::fs::read_to_string(target.join(f)).expect(f);
            assert_pair(
                &format!("cycle {cycle}: deploy target"),
                &read("www.key"),
                &read("www.pem"),
            );
        }
        let leftovers: Vec<_> = files_under(setup.dir.path())
            .into_iter()
            .filter(|p| {
                p.to_string_lossy().ends_with(".tmp")
                    && !p.starts_with(setup.dir.path().join("state/store"))
            })
            .collect();
        // A kill between write and rename may leave one temp file; the next write replaces it.
        assert!(leftovers.len() <= 2, "cycle {cycle}: {leftovers:?}");
    }

    // Settle: renew only when due, and let the outbox drain.
    let settled = setup.config(false);
    let log = setup.dir.path().join("daemon-final.log");
    let mut child = setup.daemon(&settled, &log);
    let deadline = Instant::now() + Duration::from_secs(60);
    let listed = loop {
        std::thread::sleep(Duration::from_millis(500));
        let out = setup.cli(&settled, &["alerts", "list", "-o", "json"]);
        if let Ok(doc) = serde_json::from_slice::<serde_json::Value>(&out.stdout)
            && doc["queued"] == 0
        {
            break doc;
        }
        assert!(
            Instant::now() < deadline,
            "the outbox did not drain: {}{}",
            stdout(&out),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    };
    let history = stdout(&setup.cli(&settled, &["history"]));
    child.kill().expect("kill");
    child.wait().expect("reap");

    // Every event that was queued reached the receiver (at least once: delivery is
    // at-least-once, and receivers deduplicate on webhook-id).
    let received: BTreeSet<String> = setup
        .rx
        .requests()
        .iter()
        .filter_map(|r| r.json()["data"]["id"].as_str().map(str::to_string))
        .collect();
    let requests = setup.rx.requests().len();
    // Audit lines read "alerts_queued  alerts  N event(s), M deliveries: KIND ID, KIND ID".
    let queued: BTreeSet<String> = history
        .lines()
        .filter(|l| l.contains("alerts_queued"))
        .filter_map(|l| {
            l.split_once("deliveries: ")
                .map(|(_, list)| list.to_string())
        })
        .flat_map(|list| {
            list.split(", ")
                .filter_map(|e| e.split_whitespace().last().map(str::to_string))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(!queued.is_empty(), "no alert was ever queued:\n{history}");
    let missing: Vec<_> = queued.difference(&received).collect();
    assert!(
        missing.is_empty(),
        "never delivered: {missing:?} ({listed})"
    );

    let log = setup.pebble.log();
    let orders = log.matches("Added order").count();
    let issued = history
        .lines()
        .filter(|l| l.split_whitespace().nth(2) == Some("renewal_succeeded"))
        .count();
    println!(
        "{cycles} kill -9 cycles in {:.0} s; killed during {phases:?}; {issued} renewals, {orders} orders, {} events queued, {} delivered ({requests} requests)",
        started.elapsed().as_secs_f64(),
        queued.len(),
        received.len()
    );
    assert!(
        orders <= issued + cycles + 1,
        "{orders} orders for {issued} renewals and {cycles} crashes"
    );
}
