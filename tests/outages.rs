//! CA outages seen by the running daemon: Pebble down, then back; Pebble rejecting half of all
//! nonces and validating slowly. certctl must back off as specified, raise `renewal_failed`
//! once (not once per schedule tick), and recover by itself when the CA returns.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::pebble::{Pebble, PebbleOptions};
use common::receiver::{Receiver, Request};
use common::*;

struct Daemon {
    child: Child,
    config: PathBuf,
}

impl Daemon {
    fn start(dir: &Path, pebble: &Pebble, rx: &Receiver) -> Daemon {
        let text = format!(
            "[store]\npath = \"{d}/state/store\"\n[renew]\nschedule = \"*/2 * * * * *\"\n[daemon]\ndispatch_interval = \"1s\"\nshutdown_grace = \"5s\"\n[acme.accounts.pebble]\ndirectory = \"{url}\"\nagree_tos = true\nca_file = \"{ca}\"\n[[certificate]]\nname = \"www\"\ndomains = [\"www.example.test\"]\n[certificate.challenge]\ntype = \"http-01\"\nlisten = \"127.0.0.1:{p}\"\n[[webhook]]\nname = \"ops\"\nformat = \"generic\"\nurl = \"{hook}\"\ntimeout = \"2s\"\n",
            d = dir.display(),
            url = pebble.directory(),
            ca = pebble.tls_root().display(),
            p = pebble.http_port,
            hook = rx.url("/hook"),
        );
        let config = write_config(dir, &text);
        let child = Command::new(env!("CARGO_BIN_EXE_certctl"))
            .args(["run", "--config", config.to_str().expect("utf8")])
            .env_remove("CERTCTL_STORE")
            .env_remove("NOTIFY_SOCKET")
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.join("daemon.log")).expect("log"),
            ))
            .spawn()
            .expect("spawn certctl run");
        Daemon { child, config }
    }

    fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_certctl"))
            .args(args)
            .args(["--config", self.config.to_str().expect("utf8")])
            .env_remove("CERTCTL_STORE")
            .env("NO_COLOR", "1")
            .output()
            .expect("run certctl")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn of_type(requests: &[Request], kind: &str) -> usize {
    requests
        .iter()
        .filter(|r| r.json()["type"] == format!("certctl.{kind}").as_str())
        .count()
}

fn wait_for_event(rx: &Receiver, kind: &str, within: Duration, log: &Path) -> Vec<Request> {
    let deadline = Instant::now() + within;
    loop {
        let requests = rx.requests();
        if of_type(&requests, kind) > 0 {
            return requests;
        }
        assert!(
            Instant::now() < deadline,
            "no {kind} within {within:?}; got {:?}\n{}",
            requests
                .iter()
                .map(|r| r.json()["type"].to_string())
                .collect::<Vec<_>>(),
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_ca_outage_raises_renewal_failed_once_and_recovers_by_itself() {
    let mut pebble = Pebble::start(PebbleOptions::default());
    pebble.stop();
    let rx = Receiver::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("daemon.log");
    let daemon = Daemon::start(dir.path(), &pebble, &rx);

    // The CA is down: the first attempt fails and is reported once...
    wait_for_event(&rx, "renewal_failed", Duration::from_secs(30), &log);
    // ...and the schedule ticking every 2 s for 10 s neither retries early nor repeats it.
    std::thread::sleep(Duration::from_secs(10));
    let requests = rx.requests();
    assert_eq!(of_type(&requests, "renewal_failed"), 1);
    let plan = stdout(&daemon.cli(&["renew", "--all", "--dry-run"]));
    assert!(plan.contains("backing off"), "{plan}");
    let attempts = std::fs::read_to_string(&log)
        .expect("log")
        .matches("renewal failed")
        .count();
    assert_eq!(attempts, 1, "one attempt inside the first backoff step");

    // The CA comes back: after the 1-minute backoff step certctl issues without being asked.
    pebble.restart();
    let requests = wait_for_event(&rx, "renewal_succeeded", Duration::from_secs(120), &log);
    assert_eq!(of_type(&requests, "renewal_failed"), 1, "no storm");
    let list = stdout(&daemon.cli(&["list"]));
    assert!(list.contains("www.example.test"), "{list}");
    let out = daemon.cli(&["audit", "verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn half_the_nonces_rejected_and_slow_validation_still_issue() {
    let pebble = Pebble::start(PebbleOptions {
        env: vec![
            ("PEBBLE_WFE_NONCEREJECT".into(), "50".into()),
            ("PEBBLE_VA_SLEEPTIME".into(), "3".into()),
        ],
        ..PebbleOptions::default()
    });
    let rx = Receiver::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("daemon.log");
    let daemon = Daemon::start(dir.path(), &pebble, &rx);
    let requests = wait_for_event(&rx, "renewal_succeeded", Duration::from_secs(90), &log);
    assert_eq!(
        of_type(&requests, "renewal_failed"),
        0,
        "badNonce is retried, never reported:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    // The faults were really on: Pebble says so in its log.
    let log = pebble.log();
    assert!(log.contains("reject 50% of good nonces"), "{log}");
    assert!(log.contains("Sleeping for"), "{log}");
    let out = daemon.cli(&["audit", "verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// The peak resident memory of a process, from /proc.
fn peak_rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_webhook_down_then_hanging_then_failing_loses_nothing_in_bounded_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Pki::new();
    let certs = dir.path().join("certs");
    std::fs::create_dir_all(&certs).expect("certs");
    const N: usize = 300;
    for i in 0..N {
        let leaf = pki.leaf(
            &[&format!("s{i}.example.test")],
            -80,
            3,
            SignedBy::Intermediate,
        );
        std::fs::write(certs.join(format!("s{i}.pem")), &leaf.pem).expect("cert");
    }
    let port = free_port();
    let config = write_config(
        dir.path(),
        &format!(
            "[store]\npath = \"{d}/state/store\"\n[alerts]\nretry_initial = \"1s\"\nretry_max = \"2s\"\nconcurrency = 16\n[daemon]\ndispatch_interval = \"1s\"\n[[files]]\npath = \"{c}\"\n[[webhook]]\nname = \"ops\"\nformat = \"generic\"\nurl = \"http://127.0.0.1:{port}/hook\"\ntimeout = \"1s\"\n",
            d = dir.path().display(),
            c = certs.display()
        ),
    );
    let cli = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_certctl"))
            .args(args)
            .arg("--config")
            .arg(&config)
            .env_remove("CERTCTL_STORE")
            .output()
            .expect("certctl")
    };
    let log = dir.path().join("daemon.log");
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_certctl"))
        .args(["run", "--config"])
        .arg(&config)
        .env_remove("CERTCTL_STORE")
        .env_remove("NOTIFY_SOCKET")
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&log).expect("log")))
        .spawn()
        .expect("certctl run");
    // Down (connection refused) for 6 s, then accepting and never answering for 6 s, then
    // answering 500 a hundred times, then healthy.
    std::thread::sleep(Duration::from_secs(6));
    let rx = Receiver::start_on(&format!("127.0.0.1:{port}"));
    rx.hang(true);
    std::thread::sleep(Duration::from_secs(6));
    for _ in 0..100 {
        rx.respond(500, &[]);
    }
    rx.hang(false);
    let deadline = Instant::now() + Duration::from_secs(90);
    let listed = loop {
        std::thread::sleep(Duration::from_millis(500));
        let doc: serde_json::Value =
            serde_json::from_slice(&cli(&["alerts", "list", "-o", "json"]).stdout)
                .unwrap_or_default();
        if doc["queued"] == 0 && rx.requests().len() >= N {
            break doc;
        }
        assert!(
            Instant::now() < deadline,
            "outbox not drained: {doc}\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    };
    let peak = peak_rss_kb(daemon.id());
    let _ = daemon.kill();
    let _ = daemon.wait();
    let received: std::collections::BTreeSet<String> = rx
        .requests()
        .iter()
        .filter_map(|r| r.json()["data"]["id"].as_str().map(str::to_string))
        .collect();
    assert_eq!(
        received.len(),
        N,
        "one event per expiring certificate, each delivered"
    );
    assert!(
        listed["deliveries"]
            .as_array()
            .is_none_or(|d| d.iter().all(|x| x["state"] != "dead")),
        "{listed}"
    );
    println!(
        "{N} events through a webhook outage: {} requests, peak RSS {:.1} MB",
        rx.requests().len(),
        peak as f64 / 1024.0
    );
    assert!(peak > 0 && peak < 200 * 1024, "peak RSS {peak} kB");
}
