//! Verdicts that used to be wrong, each checked against a real peer: an expired intermediate
//! (served by a TLS server, and in a bundle file, with `openssl s_client` as the referee),
//! critical findings that never alerted (a real webhook receiver), and `check` on an empty
//! store.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::receiver::Receiver;
use common::*;
use serde_json::Value;

fn locations(config: &std::path::Path) -> Vec<Value> {
    let out = ok(certctl_config(config, &["list", "-o", "json"]));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    doc["locations"].as_array().expect("locations").clone()
}

#[test]
fn an_expired_intermediate_is_critical_at_the_endpoint_and_in_the_bundle() {
    // The intermediate expired yesterday; the leaf it signed is good for 80 more days.
    let pki = Pki::with_intermediate_validity(Some((-400, -1)));
    let leaf = pki.leaf(&["localhost", "127.0.0.1"], -10, 80, SignedBy::Intermediate);
    let server = TlsServer::start("127.0.0.1:0", pki.full_chain(&leaf), &leaf.key_der, false);
    let (bundle, _) = pki.write_leaf("site", &leaf, true);

    // The referee: OpenSSL refuses the chain.
    let openssl = Command::new("openssl")
        .args(["s_client", "-connect", &server.addr.to_string(), "-CAfile"])
        .arg(pki.root_path())
        .arg("-verify_return_error")
        .stdin(Stdio::null())
        .output()
        .expect("openssl");
    let said = format!("{}{}", stdout(&openssl), stderr(&openssl));
    assert!(said.contains("certificate has expired"), "{said}");

    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(
        dir.path(),
        &format!(
            "[store]\npath = \"{d}/store\"\n[scan]\ntimeout = \"3s\"\nca_files = [\"{root}\"]\n\
             [[endpoint]]\naddress = \"{addr}\"\nname = \"web\"\n[[files]]\npath = \"{bundle}\"\n",
            d = dir.path().display(),
            root = pki.root_path().display(),
            addr = server.addr,
            bundle = bundle.display()
        ),
    );
    ok(certctl_config(&config, &["scan"]));
    let all = locations(&config);
    let endpoint = all
        .iter()
        .find(|l| l["kind"] == "endpoint")
        .expect("endpoint");
    assert_eq!(endpoint["status"], "critical", "{endpoint:#}");
    assert_eq!(codes(endpoint), vec!["chain_expired"], "{endpoint:#}");
    let message = endpoint["findings"][0]["message"]
        .as_str()
        .expect("message");
    assert!(
        message.contains("certctl Test Intermediate") && message.contains("1 day ago"),
        "{message}"
    );
    // The location's days left are the intermediate's, not the leaf's 79.
    assert_eq!(endpoint["days_left"], -1, "{endpoint:#}");
    assert!(
        matches!(endpoint["certificate"]["days_left"].as_i64(), Some(79..=80)),
        "{endpoint:#}"
    );
    assert_eq!(
        endpoint["issuers"][0]["subject"],
        "CN=certctl Test Intermediate"
    );

    // In the bundle the leaf (#0) depends on the expired intermediate (#1) beside it.
    let leaf_in_file = all
        .iter()
        .find(|l| l["kind"] == "file" && l["target"] == bundle.display().to_string())
        .expect("leaf in bundle");
    assert!(
        codes(leaf_in_file).contains(&"chain_expired".to_string()),
        "{leaf_in_file:#}"
    );
    assert_eq!(leaf_in_file["status"], "critical");

    // The table says so too, and `check` is critical naming the code.
    let table = stdout(&ok(certctl_config(&config, &["list"])));
    let row = table
        .lines()
        .find(|l| l.contains(&server.addr.to_string()))
        .expect("web row");
    assert!(
        row.contains(" web ") && row.contains(" 24h ago ") && row.ends_with("chain_expired"),
        "{table}"
    );
    let wide = stdout(&ok(certctl_config(&config, &["list", "-o", "wide"])));
    assert!(wide.contains("expired 1 day ago"), "{wide}");
    let check = certctl_config(&config, &["check"]);
    assert_eq!(check.status.code(), Some(2), "{}", stdout(&check));
    assert!(
        stdout(&check).contains("chain_expired"),
        "{}",
        stdout(&check)
    );
}

#[test]
fn a_self_signed_endpoint_alerts_and_resolves_once_fixed() {
    let pki = Pki::new();
    let rx = Receiver::start();
    let selfie = pki.leaf(&["127.0.0.1"], -1, 90, SignedBy::Itself);
    let bad = TlsServer::start(
        "127.0.0.1:0",
        vec![selfie.der.clone()],
        &selfie.key_der,
        false,
    );
    let addr = bad.addr;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(
        dir.path(),
        &format!(
            "[store]\npath = \"{d}/store\"\n[scan]\ntimeout = \"3s\"\nca_files = [\"{root}\"]\n\
             [[endpoint]]\naddress = \"{addr}\"\n\
             [[webhook]]\nname = \"ops\"\nformat = \"generic\"\nurl = \"{url}\"\ntimeout = \"2s\"\n",
            d = dir.path().display(),
            root = pki.root_path().display(),
            url = rx.url("/hook"),
        ),
    );
    ok(certctl_config(&config, &["scan"]));
    let reqs = rx.wait_for(1, Duration::from_secs(10));
    assert_eq!(reqs.len(), 1, "one alert");
    let body = reqs[0].json();
    assert_eq!(body["type"], "certctl.self_signed", "{body:#}");
    assert_eq!(body["data"]["severity"], "critical");

    // A second scan while it lasts: no new message (deduplicated).
    ok(certctl_config(&config, &["scan"]));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(rx.requests().len(), 1);

    // The server is fixed (a chain to the trusted root, on the same address): resolved.
    drop(bad);
    let good = pki.leaf(&["127.0.0.1"], -1, 90, SignedBy::Intermediate);
    let _fixed = TlsServer::start(
        &addr.to_string(),
        pki.full_chain(&good),
        &good.key_der,
        false,
    );
    ok(certctl_config(&config, &["scan"]));
    // Two more: the resolution, and `certificate_changed` (info) for the new certificate.
    let reqs = rx.wait_for(3, Duration::from_secs(10));
    let types: Vec<Value> = reqs.iter().skip(1).map(|r| r.json()).collect();
    let resolved = types
        .iter()
        .find(|b| b["type"] == "certctl.resolved")
        .unwrap_or_else(|| panic!("no resolution in {types:#?}"));
    assert_eq!(resolved["data"]["resolves"]["kind"], "self_signed");
    assert!(
        types
            .iter()
            .any(|b| b["type"] == "certctl.certificate_changed")
    );
    assert_eq!(reqs.len(), 3, "{types:#?}");
}

#[test]
fn check_on_an_empty_store_is_unknown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = certctl(&dir.path().join("store"), &["check"]);
    assert_eq!(out.status.code(), Some(3), "Nagios UNKNOWN");
    assert!(
        stdout(&out).starts_with("CERTCTL UNKNOWN - nothing has been scanned"),
        "{}",
        stdout(&out)
    );
    let quiet = certctl(&dir.path().join("store"), &["check", "--quiet"]);
    assert_eq!(quiet.status.code(), Some(3));
    assert_eq!(stdout(&quiet), "");
}

#[test]
fn removed_targets_leave_at_the_next_config_scan_and_adhoc_ones_by_forget() {
    let pki = Pki::new();
    let rx = Receiver::start();
    let selfie = pki.leaf(&["127.0.0.1"], -1, 90, SignedBy::Itself);
    let removed = TlsServer::start(
        "127.0.0.1:0",
        vec![selfie.der.clone()],
        &selfie.key_der,
        false,
    );
    let good = pki.leaf(&["127.0.0.1"], -1, 90, SignedBy::Intermediate);
    let kept = TlsServer::start("127.0.0.1:0", pki.full_chain(&good), &good.key_der, false);
    let adhoc = TlsServer::start("127.0.0.1:0", pki.full_chain(&good), &good.key_der, false);
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |endpoints: &[std::net::SocketAddr]| {
        let mut text = format!(
            "[store]\npath = \"{d}/store\"\n[scan]\ntimeout = \"3s\"\nca_files = [\"{root}\"]\n\
             [[webhook]]\nname = \"ops\"\nformat = \"generic\"\nurl = \"{url}\"\ntimeout = \"2s\"\n",
            d = dir.path().display(),
            root = pki.root_path().display(),
            url = rx.url("/hook"),
        );
        for addr in endpoints {
            text.push_str(&format!("[[endpoint]]\naddress = \"{addr}\"\n"));
        }
        write_config(dir.path(), &text)
    };
    let config = write(&[removed.addr, kept.addr]);
    ok(certctl_config(&config, &["scan"]));
    // An ad hoc scan into the same store.
    ok(certctl_config(&config, &["scan", &adhoc.addr.to_string()]));
    assert_eq!(locations(&config).len(), 3);
    let opened = rx.wait_for(1, Duration::from_secs(10));
    assert_eq!(opened[0].json()["type"], "certctl.self_signed");
    assert_eq!(
        certctl_config(&config, &["check", "-q"]).status.code(),
        Some(2)
    );

    // The broken endpoint is removed from the config: the next scan of the config retires it,
    // resolves its alert and leaves the ad hoc location alone.
    let config = write(&[kept.addr]);
    ok(certctl_config(&config, &["scan"]));
    let targets: Vec<String> = locations(&config)
        .iter()
        .map(|l| l["target"].as_str().expect("target").to_string())
        .collect();
    assert_eq!(targets.len(), 2, "{targets:?}");
    assert!(!targets.contains(&removed.addr.to_string()), "{targets:?}");
    assert!(targets.contains(&adhoc.addr.to_string()), "{targets:?}");
    let reqs = rx.wait_for(2, Duration::from_secs(10));
    let resolved = reqs[1].json();
    assert_eq!(resolved["type"], "certctl.resolved", "{resolved:#}");
    assert_eq!(resolved["data"]["resolves"]["kind"], "self_signed");
    assert_eq!(
        certctl_config(&config, &["check", "-q"]).status.code(),
        Some(0)
    );
    let history = stdout(&ok(certctl_config(&config, &["history"])));
    assert!(
        history.contains("location_retired") && history.contains("no longer in the config"),
        "{history}"
    );

    // The ad hoc location stays until forgotten; a query that matches nothing is refused.
    let out = certctl_config(&config, &["forget", "no-such-location"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("no location matches"),
        "{}",
        stderr(&out)
    );
    let out = ok(certctl_config(
        &config,
        &["forget", &adhoc.addr.to_string()],
    ));
    assert!(stdout(&out).starts_with("forgot "), "{}", stdout(&out));
    let left = locations(&config);
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["target"], kept.addr.to_string());
    ok(certctl_config(&config, &["scan"]));
    assert_eq!(
        locations(&config).len(),
        1,
        "forgotten ad hoc targets do not come back"
    );
}

/// Adds names to /etc/hosts for the test's lifetime (the suite runs as root, as CI does).
struct Hosts {
    lines: String,
}

impl Hosts {
    fn add(lines: &str) -> Hosts {
        let mut hosts = std::fs::read_to_string("/etc/hosts").expect("read /etc/hosts");
        if !hosts.ends_with('\n') {
            hosts.push('\n');
        }
        hosts.push_str(lines);
        std::fs::write("/etc/hosts", hosts).expect("write /etc/hosts (run the tests as root)");
        Hosts {
            lines: lines.to_string(),
        }
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        if let Ok(hosts) = std::fs::read_to_string("/etc/hosts") {
            let _ = std::fs::write("/etc/hosts", hosts.replace(&self.lines, ""));
        }
    }
}

#[test]
fn every_address_of_a_name_is_its_own_location() {
    let name = "certctl-round-robin.test";
    let _hosts = Hosts::add(&format!("127.0.0.2 {name}\n127.0.0.3 {name}\n"));
    let pki = Pki::new();
    let port = free_port();
    // Round-robin DNS over two backends; one was renewed, the other still serves a
    // certificate about to expire.
    let fresh = pki.leaf(&[name], -1, 90, SignedBy::Intermediate);
    let stale = pki.leaf(&[name], -80, 5, SignedBy::Intermediate);
    let _a = TlsServer::start(
        &format!("127.0.0.2:{port}"),
        pki.full_chain(&fresh),
        &fresh.key_der,
        false,
    );
    let _b = TlsServer::start(
        &format!("127.0.0.3:{port}"),
        pki.full_chain(&stale),
        &stale.key_der,
        false,
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(
        dir.path(),
        &format!(
            "[store]\npath = \"{d}/store\"\n[scan]\ntimeout = \"3s\"\nca_files = [\"{root}\"]\n\
             [[endpoint]]\naddress = \"{name}:{port}\"\nname = \"rr\"\n",
            d = dir.path().display(),
            root = pki.root_path().display(),
        ),
    );
    ok(certctl_config(&config, &["scan"]));
    let mut all = locations(&config);
    all.sort_by_key(|l| l["target"].as_str().map(String::from));
    let targets: Vec<&str> = all.iter().filter_map(|l| l["target"].as_str()).collect();
    assert_eq!(
        targets,
        vec![
            format!("127.0.0.2:{port} ({name})"),
            format!("127.0.0.3:{port} ({name})")
        ],
    );
    assert_eq!(all[0]["status"], "ok", "{:#}", all[0]);
    assert_eq!(all[1]["status"], "critical", "{:#}", all[1]);
    assert_eq!(codes(&all[1]), vec!["expiring"]);
    assert_eq!(all[1]["certificate"]["serial"], stale.serial_hex);
    assert!(all.iter().all(|l| l["name"] == "rr"));
}

#[test]
fn list_fits_an_80_column_terminal() {
    // Long targets, names and subjects, as the sample config's trust store has.
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Pki::new();
    let certs = dir
        .path()
        .join("a-directory-with-a-rather-long-name/and-a-subdirectory");
    std::fs::create_dir_all(&certs).expect("dirs");
    for (i, days) in [(0, 3), (1, 20), (2, 200)] {
        // Issued 100 days ago: 3 days left is critical, 20 a warning.
        let leaf = pki.leaf(
            &[&format!("service-number-{i}.payments.internal.example.com")],
            -100,
            days,
            SignedBy::Intermediate,
        );
        std::fs::write(
            certs.join(format!("certificate-of-service-{i}.pem")),
            leaf.pem,
        )
        .expect("cert");
    }
    let config = write_config(
        dir.path(),
        &format!(
            "[store]\npath = \"{d}/store\"\n[[files]]\npath = \"{c}\"\nname = \"payments-certificates\"\nlabels = {{ team = \"payments\" }}\n",
            d = dir.path().display(),
            c = certs.display()
        ),
    );
    ok(certctl_config(&config, &["scan"]));
    let piped = stdout(&ok(certctl_config(&config, &["list"])));
    assert!(
        piped.lines().any(|l| l.chars().count() > 80),
        "not a terminal: nothing is cut\n{piped}"
    );

    // A real terminal, 80 columns wide (tmux), on its own tmux server.
    let server = format!("certctl-test-{}", std::process::id());
    let command = format!(
        "NO_COLOR=1 {} list --config {}; sleep 30",
        env!("CARGO_BIN_EXE_certctl"),
        config.display()
    );
    let tmux = |args: &[&str]| {
        Command::new("tmux")
            .args(["-L", &server])
            .args(args)
            .output()
            .expect("tmux (apt-get install tmux)")
    };
    let started = tmux(&[
        "new-session",
        "-d",
        "-x",
        "80",
        "-y",
        "20",
        "-s",
        "list",
        &command,
    ]);
    assert!(started.status.success(), "{}", stderr(&started));
    let mut screen = String::new();
    for _ in 0..100 {
        screen = stdout(&tmux(&["capture-pane", "-p", "-t", "list"]));
        if screen.lines().filter(|l| !l.trim().is_empty()).count() >= 4 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = tmux(&["kill-server"]);
    let rows: Vec<&str> = screen.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        rows.len(),
        4,
        "a header and one line per location, none wrapped:\n{screen}"
    );
    assert!(rows[0].starts_with("STATUS"), "{screen}");
    for (row, status) in rows[1..].iter().zip(["critical", "warning", "ok"]) {
        assert!(row.starts_with(status), "{screen}");
        assert!(row.chars().count() <= 80, "{screen}");
    }
    assert!(
        rows[1].ends_with("expiring"),
        "the finding is never cut:\n{screen}"
    );
    assert!(rows[1].contains("…"), "long cells are shortened:\n{screen}");
    assert!(
        rows[1].contains("-0.pem"),
        "a path keeps its file name:\n{screen}"
    );
}

#[test]
fn every_surface_audits_and_reasons_are_words() {
    // A server that presents a CA certificate as its own: webpki says CaUsedAsEndEntity.
    let pki = Pki::new();
    let key = pki.intermediate.key().serialize_der();
    let server = TlsServer::start(
        "127.0.0.1:0",
        vec![pki.intermediate.der().clone(), pki.root.der().clone()],
        &key,
        false,
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(
        dir.path(),
        &format!(
            "[store]\npath = \"{d}/store\"\n[scan]\ntimeout = \"3s\"\nca_files = [\"{root}\"]\n[[endpoint]]\naddress = \"{addr}\"\nserver_name = \"certctl-test\"\n",
            d = dir.path().display(),
            root = pki.root_path().display(),
            addr = server.addr,
        ),
    );
    ok(certctl_config(&config, &["scan"]));
    let all = locations(&config);
    let untrusted = all[0]["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["code"] == "untrusted")
        .unwrap_or_else(|| panic!("{:#}", all[0]));
    let message = untrusted["message"].as_str().expect("message");
    assert!(
        message.contains("presents a CA certificate as its own (leaf) certificate"),
        "{message}"
    );
    assert!(
        !message.contains('(') || !message.contains("Error"),
        "{message}"
    );

    // A CLI scan is audited like the daemon's, and with no webhook nothing claims deliveries.
    let history = stdout(&ok(certctl_config(&config, &["history"])));
    assert!(history.contains("location_first_seen"), "{history}");
    assert!(!history.contains("alerts_queued"), "{history}");
    assert!(history.contains("no [[webhook]] configured"), "{history}");
}
