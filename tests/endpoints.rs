//! Endpoint scanning against real TLS servers on loopback: every finding code an endpoint can
//! produce, IPv4 and IPv6, hostile peers, and a real nginx.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// Scans `targets` (with `server_name` if given) trusting the test root; returns the locations.
fn scan(pki: &Pki, targets: &[String], server_name: Option<&str>, extra: &str) -> Vec<Value> {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(
        dir.path(),
        &format!(
            "[scan]\ntimeout = \"2s\"\nca_files = [\"{}\"]\n{extra}\n",
            pki.root_path().display()
        ),
    );
    let store = dir.path().join("store");
    let mut args = vec![
        "scan",
        "--config",
        config.to_str().expect("utf8"),
        "-o",
        "json",
    ];
    if let Some(sni) = server_name {
        args.extend(["--server-name", sni]);
    }
    args.extend(targets.iter().map(String::as_str));
    let doc = certctl_json(&store, &args);
    assert_eq!(doc["schema"], 1);
    doc["locations"].as_array().expect("locations").clone()
}

fn one(pki: &Pki, target: String, server_name: Option<&str>) -> Value {
    let mut all = scan(pki, &[target], server_name, "");
    assert_eq!(all.len(), 1, "{all:?}");
    all.remove(0)
}

fn serve(pki: &Pki, leaf: &Leaf, with_intermediate: bool, tls12_only: bool) -> TlsServer {
    let chain = if with_intermediate {
        pki.full_chain(leaf)
    } else {
        vec![leaf.der.clone()]
    };
    TlsServer::start("127.0.0.1:0", chain, &leaf.key_der, tls12_only)
}

#[test]
fn healthy_chain_has_no_findings_and_full_json_schema() {
    let pki = Pki::new();
    let leaf = pki.leaf(&["localhost", "127.0.0.1"], -1, 90, SignedBy::Intermediate);
    let server = serve(&pki, &leaf, true, false);
    let loc = one(&pki, server.addr.to_string(), None);
    assert_eq!(codes(&loc), Vec::<String>::new(), "{loc:#}");
    assert_eq!(loc["status"], "ok");
    assert_eq!(loc["kind"], "endpoint");
    assert_eq!(loc["target"], server.addr.to_string());
    let cert = &loc["certificate"];
    assert_eq!(cert["serial"], leaf.serial_hex);
    assert_eq!(cert["sans"], serde_json::json!(["localhost", "127.0.0.1"]));
    assert_eq!(cert["issuer"], "CN=certctl Test Intermediate");
    assert_eq!(cert["subject"], "CN=localhost");
    assert!(
        matches!(cert["days_left"].as_i64(), Some(88..=90)),
        "{cert}"
    );
    assert!(cert["not_after"].as_str().expect("rfc3339").ends_with('Z'));
    assert_eq!(cert["sha256"].as_str().expect("sha").len(), 64);
    assert_eq!(loc["tls"]["version"], "TLSv1.3");
}

#[test]
fn ipv6_loopback_works() {
    let pki = Pki::new();
    let leaf = pki.leaf(&["::1"], -1, 90, SignedBy::Intermediate);
    let server = TlsServer::start("[::1]:0", pki.full_chain(&leaf), &leaf.key_der, false);
    let loc = one(&pki, format!("[::1]:{}", server.addr.port()), None);
    assert_eq!(codes(&loc), Vec::<String>::new(), "{loc:#}");
    assert_eq!(loc["target"], format!("[::1]:{}", server.addr.port()));
}

#[test]
fn expiry_findings_follow_thresholds() {
    let pki = Pki::new();
    let cases = [
        (-100, -2, "expired", "critical"),
        (-60, 20, "expiring", "warning"),
        (-60, 3, "expiring", "critical"),
        (2, 90, "not_yet_valid", "critical"),
    ];
    for (from, to, code, severity) in cases {
        let leaf = pki.leaf(&["127.0.0.1"], from, to, SignedBy::Intermediate);
        let server = serve(&pki, &leaf, true, false);
        let loc = one(&pki, server.addr.to_string(), None);
        assert_eq!(codes(&loc), vec![code.to_string()], "{from}..{to}: {loc:#}");
        assert_eq!(loc["findings"][0]["severity"], severity);
        assert_eq!(loc["status"], severity);
    }
}

#[test]
fn hostname_mismatch_uses_the_sni_name() {
    let pki = Pki::new();
    let leaf = pki.leaf(&["www.example.test"], -1, 90, SignedBy::Intermediate);
    let server = serve(&pki, &leaf, true, false);
    let good = one(&pki, server.addr.to_string(), Some("www.example.test"));
    assert_eq!(codes(&good), Vec::<String>::new(), "{good:#}");
    assert_eq!(good["server_name"], "www.example.test");
    let bad = one(&pki, server.addr.to_string(), Some("api.example.test"));
    assert_eq!(codes(&bad), vec!["hostname_mismatch"], "{bad:#}");
    let message = bad["findings"][0]["message"].as_str().expect("message");
    assert!(message.contains("api.example.test") && message.contains("www.example.test"));
}

#[test]
fn trust_problems_are_named() {
    let pki = Pki::new();
    // Self-signed leaf.
    let selfie = pki.leaf(&["127.0.0.1"], -1, 90, SignedBy::Itself);
    let s = serve(&pki, &selfie, false, false);
    assert_eq!(
        codes(&one(&pki, s.addr.to_string(), None)),
        vec!["self_signed"]
    );

    // Missing intermediate.
    let leaf = pki.leaf(&["127.0.0.1"], -1, 90, SignedBy::Intermediate);
    let s = serve(&pki, &leaf, false, false);
    let loc = one(&pki, s.addr.to_string(), None);
    assert_eq!(codes(&loc), vec!["incomplete_chain"], "{loc:#}");

    // Signed directly by a trusted root: no intermediate needed.
    let direct = pki.leaf(&["127.0.0.1"], -1, 90, SignedBy::Root);
    let s = serve(&pki, &direct, false, false);
    assert_eq!(
        codes(&one(&pki, s.addr.to_string(), None)),
        Vec::<String>::new()
    );

    // A complete chain from a root nobody trusts.
    let stranger = Pki::new();
    let leaf = stranger.leaf(&["127.0.0.1"], -1, 90, SignedBy::Intermediate);
    let s = TlsServer::start(
        "127.0.0.1:0",
        stranger.full_chain(&leaf),
        &leaf.key_der,
        false,
    );
    let loc = one(&pki, s.addr.to_string(), None);
    assert_eq!(codes(&loc), vec!["untrusted"], "{loc:#}");
}

#[test]
fn tls12_only_server_is_flagged() {
    let pki = Pki::new();
    let leaf = pki.leaf(&["127.0.0.1"], -1, 90, SignedBy::Intermediate);
    let server = serve(&pki, &leaf, true, true);
    let loc = one(&pki, server.addr.to_string(), None);
    assert_eq!(codes(&loc), vec!["no_tls13"]);
    assert_eq!(loc["findings"][0]["severity"], "info");
    assert_eq!(loc["status"], "ok");
    assert_eq!(loc["tls"]["version"], "TLSv1.2");
    // "TLS 1.3 everywhere" as a site rule: a warning, or critical if the site says so.
    for (policy, severity, status) in [
        ("[policy]\nmin_tls = \"1.3\"\n", "warning", "warning"),
        (
            "[policy]\nmin_tls = \"1.3\"\nmin_tls_severity = \"critical\"\n",
            "critical",
            "critical",
        ),
    ] {
        let all = scan(&pki, &[server.addr.to_string()], None, policy);
        assert_eq!(all[0]["findings"][0]["code"], "no_tls13");
        assert_eq!(all[0]["findings"][0]["severity"], severity, "{policy}");
        assert_eq!(all[0]["status"], status);
    }
    // A TLS 1.3 server is fine under the rule.
    let modern = serve(&pki, &leaf, true, false);
    let all = scan(
        &pki,
        &[modern.addr.to_string()],
        None,
        "[policy]\nmin_tls = \"1.3\"\n",
    );
    assert_eq!(codes(&all[0]), Vec::<String>::new());
}

#[test]
fn bad_policy_values_name_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(
        dir.path(),
        "[policy]\nmin_tls = \"1.0\"\nmin_tls_severity = \"loud\"\n",
    );
    let out = certctl_config(&config, &["list"]);
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(
        err.contains(":2: policy.min_tls: \"1.0\" is not a TLS version"),
        "{err}"
    );
    assert!(
        err.contains(":3: policy.min_tls_severity: \"loud\" is not a severity"),
        "{err}"
    );
}

#[test]
fn unreachable_peers_get_failure_codes() {
    let pki = Pki::new();
    let closed = closed_port();
    let http = http_server();
    let locs = scan(&pki, &[closed.to_string(), http.to_string()], None, "");
    let by_target = |t: String| {
        locs.iter()
            .find(|l| l["target"] == t)
            .cloned()
            .expect("location")
    };
    let c = by_target(closed.to_string());
    assert_eq!(codes(&c), vec!["connect_error"]);
    assert!(c["certificate"].is_null());
    let h = by_target(http.to_string());
    assert_eq!(codes(&h), vec!["tls_error"], "{h:#}");
    assert!(
        h["findings"][0]["message"]
            .as_str()
            .expect("msg")
            .contains("does not speak TLS"),
        "{h:#}"
    );
}

#[test]
fn silent_peer_times_out_within_the_configured_timeout() {
    let pki = Pki::new();
    let silent = silent_server();
    let started = Instant::now();
    let loc = one(&pki, silent.to_string(), None);
    let elapsed = started.elapsed();
    assert_eq!(codes(&loc), vec!["timeout"], "{loc:#}");
    // The config sets a 2 s timeout; the whole process must not hang beyond it (plus startup).
    assert!(elapsed < Duration::from_secs(8), "took {elapsed:?}");
}

#[test]
fn unresolvable_name_is_a_dns_error() {
    let pki = Pki::new();
    // A label over 63 octets is rejected by the resolver itself: no query leaves the machine.
    let name = format!("{}.invalid:443", "a".repeat(70));
    let loc = one(&pki, name, None);
    assert_eq!(codes(&loc), vec!["dns_error"], "{loc:#}");
}

#[test]
fn real_nginx_serving_a_full_chain_and_a_bare_leaf() {
    let pki = Pki::new();
    let good = pki.leaf(&["127.0.0.1"], -1, 60, SignedBy::Intermediate);
    let bare = pki.leaf(&["127.0.0.1"], -1, 60, SignedBy::Intermediate);
    let (good_cert, good_key) = pki.write_leaf("good", &good, true);
    let (bare_cert, bare_key) = pki.write_leaf("bare", &bare, false);
    let nginx = Nginx::start(&[
        NginxSite {
            cert: good_cert,
            key: good_key,
            extra: String::new(),
        },
        NginxSite {
            cert: bare_cert,
            key: bare_key,
            extra: "ssl_protocols TLSv1.2;".into(),
        },
    ]);
    let targets: Vec<String> = nginx
        .ports
        .iter()
        .map(|p| format!("127.0.0.1:{p}"))
        .collect();
    let locs = scan(&pki, &targets, None, "");
    let find = |port: u16| {
        locs.iter()
            .find(|l| l["target"] == format!("127.0.0.1:{port}"))
            .cloned()
            .expect("location")
    };
    let g = find(nginx.ports[0]);
    assert_eq!(codes(&g), Vec::<String>::new(), "{g:#}");
    assert_eq!(g["certificate"]["serial"], good.serial_hex);
    let b = find(nginx.ports[1]);
    assert_eq!(codes(&b), vec!["incomplete_chain", "no_tls13"], "{b:#}");
}

#[test]
fn weak_key_and_sha1_signature_served_by_nginx() {
    let pki = Pki::new();
    let dir = pki.dir.path();
    let key = dir.join("weak.key");
    let csr = dir.join("weak.csr");
    let cert = dir.join("weak.crt");
    let int_key = dir.join("int.key");
    std::fs::write(&int_key, pki.intermediate_key_pem()).expect("int key");
    let ext = dir.join("ext.cnf");
    std::fs::write(&ext, "subjectAltName=IP:127.0.0.1\n").expect("ext");
    run_openssl(&["genrsa", "-out", p(&key), "1024"]);
    run_openssl(&[
        "req",
        "-new",
        "-key",
        p(&key),
        "-subj",
        "/CN=weak",
        "-out",
        p(&csr),
    ]);
    run_openssl(&[
        "x509",
        "-req",
        "-in",
        p(&csr),
        "-CA",
        p(&pki.intermediate_path()),
        "-CAkey",
        p(&int_key),
        "-CAcreateserial",
        "-days",
        "30",
        "-sha1",
        "-extfile",
        p(&ext),
        "-out",
        p(&cert),
    ]);
    let mut chain = std::fs::read_to_string(&cert).expect("cert");
    chain.push_str(&pki.intermediate.pem());
    std::fs::write(&cert, chain).expect("chain");
    let nginx = Nginx::start(&[NginxSite {
        cert,
        key,
        extra: "ssl_ciphers DEFAULT:@SECLEVEL=0;".into(),
    }]);
    let loc = one(&pki, format!("127.0.0.1:{}", nginx.ports[0]), None);
    let found = codes(&loc);
    assert!(found.contains(&"weak_key".to_string()), "{loc:#}");
    assert!(found.contains(&"weak_signature".to_string()), "{loc:#}");
}

fn p(path: &std::path::Path) -> &str {
    path.to_str().expect("utf8 path")
}

fn run_openssl(args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl is installed");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn scans_are_recorded_and_listed_soonest_first() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(
        dir.path(),
        &format!("[scan]\nca_files = [\"{}\"]\n", pki.root_path().display()),
    );
    let store = dir.path().join("store");
    let late = pki.leaf(&["127.0.0.1"], -1, 80, SignedBy::Intermediate);
    let soon = pki.leaf(&["127.0.0.1"], -100, 10, SignedBy::Intermediate);
    let a = serve(&pki, &late, true, false);
    let b = serve(&pki, &soon, true, false);
    let cfg = config.to_str().expect("utf8");
    let out = certctl(
        &store,
        &["scan", "-c", cfg, &a.addr.to_string(), &b.addr.to_string()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc = certctl_json(&store, &["list", "-c", cfg, "-o", "json"]);
    let serials: Vec<&str> = doc["locations"]
        .as_array()
        .expect("array")
        .iter()
        .map(|l| l["certificate"]["serial"].as_str().expect("serial"))
        .collect();
    assert_eq!(
        serials,
        vec![soon.serial_hex.as_str(), late.serial_hex.as_str()]
    );
    let doc = certctl_json(
        &store,
        &["list", "-c", cfg, "--expiring", "30d", "-o", "json"],
    );
    assert_eq!(doc["locations"].as_array().expect("array").len(), 1);
    let table = stdout(&certctl(&store, &["list", "-c", cfg]));
    assert!(table.contains(" 9d ") || table.contains(" 10d "), "{table}");
    assert!(
        !table.contains('\u{1b}'),
        "no colour when not a tty: {table}"
    );
    // check: one warning (10 days left), nothing critical.
    let out = certctl(&store, &["check", "-c", cfg]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).starts_with("CERTCTL WARNING - 0 critical, 1 warning, 1 ok"));

    // The certificate served at a location changes: recorded as history, visible in `show`.
    let port = a.addr.port();
    drop(a);
    let renewed = pki.leaf(&["127.0.0.1"], -1, 85, SignedBy::Intermediate);
    let _a2 = TlsServer::start(
        &format!("127.0.0.1:{port}"),
        pki.full_chain(&renewed),
        &renewed.key_der,
        false,
    );
    let target = format!("127.0.0.1:{port}");
    let out = certctl(&store, &["scan", "-c", cfg, &target]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let shown = certctl_json(&store, &["show", "-c", cfg, &target, "-o", "json"]);
    assert_eq!(shown["certificate"]["serial"], renewed.serial_hex);
    let history: Vec<&str> = shown["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|h| h["serial"].as_str().expect("serial"))
        .collect();
    assert_eq!(
        history,
        vec![late.serial_hex.as_str(), renewed.serial_hex.as_str()]
    );
    assert_eq!(shown["chain"].as_array().expect("chain").len(), 2);
    let text = stdout(&certctl(&store, &["show", "-c", cfg, &target]));
    assert!(
        text.contains("intermediate") && text.contains(&renewed.serial_hex),
        "{text}"
    );
}
