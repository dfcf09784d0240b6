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
