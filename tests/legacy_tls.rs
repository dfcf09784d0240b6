//! Servers rustls cannot talk to (TLS 1.0 only, TLS 1.1 only, TLS 1.2 with only CBC ciphers),
//! played by `openssl s_server` with certificates made in the test: certctl still reads and
//! judges their certificates from the clear-text hello, and says `legacy_tls`.

mod common;

use common::servers::{self, Material};
use common::*;
use serde_json::Value;

fn material(pki: &Pki, leaf: &Leaf) -> Material {
    let (fullchain, key) = pki.write_leaf("legacy", leaf, true);
    Material { fullchain, key }
}

fn scan(pki: &Pki, policy: &str, targets: &[String]) -> Vec<Value> {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(
        dir.path(),
        &format!(
            "[scan]\ntimeout = \"3s\"\nca_files = [\"{}\"]\n\n{policy}\n",
            pki.root_path().display()
        ),
    );
    let mut args = vec![
        "scan",
        "--config",
        config.to_str().expect("utf8"),
        "-o",
        "json",
    ];
    args.extend(targets.iter().map(String::as_str));
    let doc = certctl_json(&dir.path().join("store"), &args);
    doc["locations"].as_array().expect("locations").clone()
}

fn finding<'a>(loc: &'a Value, code: &str) -> &'a Value {
    loc["findings"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["code"] == code))
        .unwrap_or_else(|| panic!("no {code} in {loc:#}"))
}

#[test]
fn legacy_servers_show_their_certificates_and_version() {
    let pki = Pki::new();
    let leaf = pki.leaf(&["127.0.0.1"], -1, 60, SignedBy::Intermediate);
    let m = material(&pki, &leaf);
    let [tls10, tls11, cbc12] = free_ports::<3>();
    let _a = servers::openssl_server(&m, tls10, &["-tls1", "-cipher", "DEFAULT:@SECLEVEL=0"]);
    let _b = servers::openssl_server(&m, tls11, &["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"]);
    let _c = servers::openssl_server(&m, cbc12, &["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA"]);
    let targets: Vec<String> = [tls10, tls11, cbc12]
        .iter()
        .map(|p| format!("127.0.0.1:{p}"))
        .collect();
    let cases = [
        (tls10, "TLSv1.0", "speaks only TLSv1.0"),
        (tls11, "TLSv1.1", "speaks only TLSv1.1"),
        (cbc12, "TLSv1.2", "offers TLSv1.2 only with old ciphers"),
    ];
    for (policy, below12) in [
        ("", "warning"),
        ("[policy]\nlegacy_tls_severity = \"critical\"", "critical"),
    ] {
        let locations = scan(&pki, policy, &targets);
        for (port, version, words) in cases {
            let loc = locations
                .iter()
                .find(|l| l["target"] == format!("127.0.0.1:{port}"))
                .expect("location");
            // The same certificate the server holds, judged like any other: trusted, right name.
            assert_eq!(loc["certificate"]["serial"], leaf.serial_hex, "{loc:#}");
            assert_eq!(loc["tls"]["version"], version, "{loc:#}");
            assert_eq!(loc["tls"]["cipher"], "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA");
            let mut found = codes(loc);
            found.sort();
            assert_eq!(found, vec!["legacy_tls", "no_tls13"], "{loc:#}");
            let legacy = finding(loc, "legacy_tls");
            let expected = if version == "TLSv1.2" {
                "warning"
            } else {
                below12
            };
            assert_eq!(legacy["severity"], expected, "{policy}: {loc:#}");
            assert_eq!(loc["status"], expected);
            let message = legacy["message"].as_str().expect("message");
            assert!(message.contains(words), "{message}");
            assert!(message.contains("received fatal alert"), "{message}");
        }
    }
}

#[test]
fn a_bad_legacy_policy_value_names_its_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), "[policy]\nlegacy_tls_severity = \"fatal\"\n");
    let out = certctl_config(&config, &["check"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains(":2: policy.legacy_tls_severity: \"fatal\" is not a severity"),
        "{err}"
    );
}

/// A TCP relay to `backend` that counts the connections it accepted.
fn counting_relay(
    backend: u16,
) -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let count = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = count.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            counted.fetch_add(1, Ordering::SeqCst);
            let Ok(server) = std::net::TcpStream::connect(("127.0.0.1", backend)) else {
                continue;
            };
            for (mut from, mut to) in [
                (
                    client.try_clone().expect("clone"),
                    server.try_clone().expect("clone"),
                ),
                (server, client),
            ] {
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from, &mut to);
                    let _ = to.shutdown(std::net::Shutdown::Write);
                });
            }
        }
    });
    (addr, count)
}

#[test]
fn a_legacy_read_costs_one_handshake_more() {
    let pki = Pki::new();
    let leaf = pki.leaf(&["127.0.0.1"], -1, 60, SignedBy::Intermediate);
    let m = material(&pki, &leaf);
    let [legacy, modern] = free_ports::<2>();
    let _old = servers::openssl_server(&m, legacy, &["-tls1", "-cipher", "DEFAULT:@SECLEVEL=0"]);
    let _new = servers::openssl_server(&m, modern, &[]);
    let (old_relay, old_count) = counting_relay(legacy);
    let (new_relay, new_count) = counting_relay(modern);
    let locations = scan(&pki, "", &[old_relay.to_string(), new_relay.to_string()]);
    assert_eq!(locations.len(), 2, "{locations:#?}");
    use std::sync::atomic::Ordering;
    assert_eq!(
        old_count.load(Ordering::SeqCst),
        2,
        "legacy: rustls, then one legacy hello"
    );
    assert_eq!(
        new_count.load(Ordering::SeqCst),
        1,
        "a modern server: one handshake"
    );
}
