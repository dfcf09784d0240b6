//! `certctl discover` on a loopback block: real TLS servers on some addresses and ports, a
//! plain-HTTP peer, a silent peer and closed ports elsewhere. Every served certificate is found,
//! nothing else is reported or recorded, the time stays bounded, and bad ranges are refused
//! before anything is sent.

mod common;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// The block the tests sweep: 127.0.0.17 to 127.0.0.30, away from the 127.0.0.1 other tests use.
const BLOCK: &str = "127.0.0.16/28";

#[test]
fn every_served_certificate_in_the_block_is_found_and_added() {
    let pki = Pki::new();
    let leaf = |name: &str| pki.leaf(&[name], -1, 60, SignedBy::Intermediate);
    let (a, b, c) = (
        leaf("billing.internal"),
        leaf("ledger.internal"),
        leaf("old.internal"),
    );
    let first = TlsServer::start("127.0.0.18:0", pki.full_chain(&a), &a.key_der, false);
    let port = first.addr.port();
    // The same port on another address, and another port.
    let second = TlsServer::start(
        &format!("127.0.0.25:{port}"),
        pki.full_chain(&b),
        &b.key_der,
        false,
    );
    let third = TlsServer::start("127.0.0.30:0", vec![c.der.clone()], &c.key_der, true);
    let other = third.addr.port();
    // Open but not TLS, and open but silent: probed, scanned, neither reported nor recorded.
    let http = TcpListener::bind(format!("127.0.0.21:{port}")).expect("bind");
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for mut s in http.incoming().flatten() {
            let mut buf = [0u8; 512];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        }
    });
    let silent = TcpListener::bind(format!("127.0.0.22:{other}")).expect("bind");
    let _held = std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in silent.incoming().flatten() {
            held.push(s);
        }
    });
    let closed = free_port();

    let dir = tempfile::tempdir().expect("tempdir");
    let rx = common::receiver::Receiver::start();
    let config = write_config(
        dir.path(),
        &format!(
            "[scan]\ntimeout = \"2s\"\nca_files = [\"{}\"]\n\n\
             [[webhook]]\nname = \"sre\"\nformat = \"generic\"\nurl = \"{}\"\nevents = [\"discovered\"]\n",
            pki.root_path().display(),
            rx.url("/hook")
        ),
    );
    let cfg = config.to_str().expect("utf8");
    let store = dir.path().join("store");
    let ports = format!("{port},{other},{closed}");
    let started = Instant::now();
    let doc = certctl_json(
        &store,
        &[
            "discover", "-c", cfg, BLOCK, "--ports", &ports, "--add", "-o", "json",
        ],
    );
    // 14 addresses x 3 ports: closed ports answer at once, the silent peer costs one timeout.
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    let found = doc["locations"].as_array().expect("locations");
    let mut targets: Vec<&str> = found.iter().filter_map(|l| l["target"].as_str()).collect();
    targets.sort();
    let mut expected = vec![
        format!("127.0.0.18:{port}"),
        format!("127.0.0.25:{port}"),
        format!("127.0.0.30:{other}"),
    ];
    expected.sort();
    assert_eq!(targets, expected, "{doc:#}");
    let serial = |target: &str| -> Value {
        found.iter().find(|l| l["target"] == target).expect("found")["certificate"]["serial"]
            .clone()
    };
    assert_eq!(serial(&format!("127.0.0.18:{port}")), a.serial_hex);
    assert_eq!(serial(&format!("127.0.0.25:{port}")), b.serial_hex);
    for loc in found {
        assert_eq!(loc["labels"]["discovered"], "true", "{loc:#}");
        // No name to check: a discovered address is not a hostname_mismatch.
        assert!(
            !codes(loc).contains(&"hostname_mismatch".to_string()),
            "{loc:#}"
        );
    }
    let healthy = found
        .iter()
        .find(|l| l["target"] == format!("127.0.0.18:{port}"))
        .expect("found");
    assert_eq!(healthy["status"], "ok", "{healthy:#}");
    let broken = found
        .iter()
        .find(|l| l["target"] == format!("127.0.0.30:{other}"))
        .expect("found");
    assert!(
        codes(broken).contains(&"incomplete_chain".to_string()),
        "{broken:#}"
    );

    // Each new certificate is one `discovered` alert, naming where it was found.
    let alerts = rx.wait_for(3, Duration::from_secs(10));
    let mut found_at: Vec<String> = alerts
        .iter()
        .map(|r| {
            let body = r.json();
            assert_eq!(body["data"]["kind"], "discovered", "{body:#}");
            body["data"]["locations"][0]
                .as_str()
                .expect("location")
                .to_string()
        })
        .collect();
    found_at.sort();
    assert_eq!(found_at, expected);

    // Recorded: the inventory holds exactly these three, labelled.
    let listed = certctl_json(
        &store,
        &[
            "list",
            "-c",
            cfg,
            "--label",
            "discovered=true",
            "-o",
            "json",
        ],
    );
    assert_eq!(
        listed["locations"].as_array().map(Vec::len),
        Some(3),
        "{listed:#}"
    );

    // Without --add nothing is written: a new server is reported, the store stays as it was.
    let d = leaf("new.internal");
    let _fourth = TlsServer::start(
        &format!("127.0.0.27:{other}"),
        pki.full_chain(&d),
        &d.key_der,
        false,
    );
    let doc = certctl_json(
        &store,
        &[
            "discover", "-c", cfg, BLOCK, "--ports", &ports, "-o", "json",
        ],
    );
    assert_eq!(
        doc["locations"].as_array().map(Vec::len),
        Some(4),
        "{doc:#}"
    );
    let listed = certctl_json(&store, &["list", "-c", cfg, "-o", "json"]);
    assert_eq!(
        listed["locations"].as_array().map(Vec::len),
        Some(3),
        "{listed:#}"
    );
    // Nothing recorded, nothing announced; and a re-run of --add announces only the new server.
    let _ = certctl_json(
        &store,
        &[
            "discover", "-c", cfg, BLOCK, "--ports", &ports, "--add", "-o", "json",
        ],
    );
    let all = rx.wait_for(4, Duration::from_secs(10));
    assert_eq!(all.len(), 4, "only the new server is announced");
    assert_eq!(
        all[3].json()["data"]["locations"][0],
        format!("127.0.0.27:{other}")
    );
    drop((first, second, third));
}

#[test]
fn ranges_beyond_the_bound_and_bad_input_are_refused_before_any_probe() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let cases: [(&[&str], &str); 7] = [
        (
            &["discover", "10.0.0.0/8"],
            "16777214 addresses, more than the bound of 65536",
        ),
        (
            &["discover", "10.0.0.0/33"],
            "\"10.0.0.0/33\" is not an address range",
        ),
        (&["discover", "10.0.0.9-10.0.0.1"], "ends before it starts"),
        (
            &["discover", "2001:db8::/32", "--force"],
            "cannot be probed at all",
        ),
        (
            &["discover", "127.0.0.1", "--ports", "0,443"],
            "is not a port list",
        ),
        (&["discover", "127.0.0.1", "--rate", "fast"], "--rate fast"),
        (
            &["discover", "127.0.0.1", "--protocol", "https"],
            "give a STARTTLS protocol",
        ),
    ];
    for (args, words) in cases {
        let started = Instant::now();
        let out = certctl(&store, args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {err}");
        assert!(err.contains(words), "{args:?}: {err}");
        assert!(started.elapsed() < Duration::from_secs(5), "{args:?}");
    }
    assert!(!store.exists(), "nothing was recorded");
    // The bound is the config's.
    let config = write_config(dir.path(), "[discovery]\nmax_addresses = 8\n");
    let out = certctl_config(&config, &["discover", "127.0.0.0/28", "--ports", "1"]);
    assert!(
        stderr(&out).contains("14 addresses, more than the bound of 8"),
        "{}",
        stderr(&out)
    );
    let config = write_config(dir.path(), "[discovery]\nrate = 0\n");
    let out = certctl_config(&config, &["discover", "127.0.0.1"]);
    assert!(
        stderr(&out).contains(":2: discovery.rate: must be between 1 and 1000000, got 0"),
        "{}",
        stderr(&out)
    );
    // A [[discover]] job is checked when the config is read, with its line, before any run.
    let config = write_config(
        dir.path(),
        "[[discover]]\nname = \"lan\"\nranges = [\"10.0.0.0/8\"]\n\n[[discover]]\nname = \"dmz\"\nranges = [\"10.1.2.3-10.1.2.1\"]\nschedule = \"hourly\"\n",
    );
    let out = certctl_config(&config, &["list"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    for words in [
        ":3: discover[0].ranges: 16777214 addresses, more than [discovery] max_addresses (65536)",
        ":7: discover[1].ranges[0]: \"10.1.2.3-10.1.2.1\": the span ends before it starts",
        ":8: discover[1].schedule: invalid cron schedule \"hourly\"",
    ] {
        assert!(err.contains(words), "{words}: {err}");
    }
}

/// A `[[discover]]` job run by the daemon on its schedule: what it finds joins the inventory
/// and raises `discovered`, and `certctl status` shows the job.
#[test]
fn the_daemon_runs_discover_jobs_on_their_schedule() {
    let pki = Pki::new();
    let leaf = pki.leaf(&["forgotten.internal"], -1, 60, SignedBy::Intermediate);
    let server = TlsServer::start("127.0.0.41:0", pki.full_chain(&leaf), &leaf.key_der, false);
    let port = server.addr.port();
    let dir = tempfile::tempdir().expect("tempdir");
    let rx = common::receiver::Receiver::start();
    let config = write_config(
        dir.path(),
        &format!(
            "[store]\npath = \"{d}/state/store\"\n[scan]\ntimeout = \"2s\"\nca_files = [\"{root}\"]\n[daemon]\ndispatch_interval = \"1s\"\nshutdown_grace = \"5s\"\n\n\
             [[discover]]\nname = \"lab\"\nranges = [\"127.0.0.41-42\"]\nports = \"{port}\"\nschedule = \"*/2 * * * * *\"\n\n\
             [[webhook]]\nname = \"sre\"\nformat = \"generic\"\nurl = \"{url}\"\nevents = [\"discovered\"]\n",
            d = dir.path().display(),
            root = pki.root_path().display(),
            url = rx.url("/hook"),
        ),
    );
    let mut daemon = std::process::Command::new(env!("CARGO_BIN_EXE_certctl"))
        .args(["run", "--config", config.to_str().expect("utf8")])
        .env_remove("CERTCTL_STORE")
        .env_remove("NOTIFY_SOCKET")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn certctl run");
    let alerts = rx.wait_for(1, Duration::from_secs(30));
    let body = alerts[0].json();
    assert_eq!(body["data"]["kind"], "discovered", "{body:#}");
    assert_eq!(
        body["data"]["locations"][0],
        format!("127.0.0.41:{port}"),
        "{body:#}"
    );
    let listed = certctl_config(
        &config,
        &["list", "--label", "discovered=true", "-o", "json"],
    );
    let doc: Value = serde_json::from_slice(&listed.stdout).expect("json");
    let targets: Vec<&str> = doc["locations"]
        .as_array()
        .expect("locations")
        .iter()
        .filter_map(|l| l["target"].as_str())
        .collect();
    assert_eq!(targets, vec![format!("127.0.0.41:{port}")], "{doc:#}");
    let status = stdout(&certctl_config(&config, &["status"]));
    assert!(status.contains("discover:lab"), "{status}");
    // Later runs find nothing new: no second alert.
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(rx.requests().len(), 1, "{:?}", rx.requests().len());
    let _ = daemon.kill();
    let _ = daemon.wait();
    drop(server);
}
