//! File scanning: PEM bundles, DER, directories, globs, private keys, and garbage.

mod common;

use common::*;
use serde_json::Value;

fn scan_paths(store: &std::path::Path, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["scan", "-o", "json"];
    all.extend(args);
    let doc = certctl_json(store, &all);
    doc["locations"].as_array().expect("locations").clone()
}

#[test]
fn pem_bundle_der_and_directory_walk() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let certs = dir.path().join("certs");
    std::fs::create_dir_all(certs.join("nested")).expect("mkdir");
    let a = pki.leaf(&["a.example.test"], -1, 100, SignedBy::Intermediate);
    let b = pki.leaf(&["b.example.test"], -100, 20, SignedBy::Intermediate);
    let c = pki.leaf(&["c.example.test"], -1, 50, SignedBy::Intermediate);
    // A bundle of three certificates, with text between blocks as openssl writes it.
    let bundle = format!(
        "subject=CN=a\n{}\nsubject=CN=b\n{}{}",
        a.pem,
        b.pem,
        pki.intermediate.pem()
    );
    std::fs::write(certs.join("bundle.pem"), bundle).expect("bundle");
    std::fs::write(certs.join("nested/c.der"), c.der.as_ref()).expect("der");
    std::fs::write(certs.join("nested/notes.txt"), "not a certificate").expect("txt");
    let store = dir.path().join("store");
    let locs = scan_paths(&store, &[certs.to_str().expect("utf8")]);
    let mut serials: Vec<String> = locs
        .iter()
        .map(|l| {
            l["certificate"]["serial"]
                .as_str()
                .expect("serial")
                .to_string()
        })
        .collect();
    serials.sort();
    let mut want = vec![
        a.serial_hex.clone(),
        b.serial_hex.clone(),
        c.serial_hex.clone(),
        locs.iter()
            .find(|l| l["certificate"]["subject"] == "CN=certctl Test Intermediate")
            .map(|l| l["certificate"]["serial"].as_str().expect("s").to_string())
            .expect("intermediate listed"),
    ];
    want.sort();
    assert_eq!(
        serials, want,
        "notes.txt is not read when walking a directory"
    );
    // Sorted by expiry: b (20 days) comes first and is a warning.
    assert_eq!(locs[0]["certificate"]["serial"], b.serial_hex);
    assert_eq!(codes(&locs[0]), vec!["expiring"]);
    assert_eq!(locs[0]["kind"], "file");
    let bundle_target = format!("{}#1", certs.join("bundle.pem").display());
    assert_eq!(locs[0]["target"], bundle_target);
}

#[test]
fn private_keys_are_skipped_and_never_printed() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let leaf = pki.leaf(&["k.example.test"], -1, 100, SignedBy::Intermediate);
    let combined = dir.path().join("combined.pem");
    std::fs::write(&combined, format!("{}{}", leaf.pem, leaf.key_pem)).expect("write");
    let key_only = dir.path().join("only.key");
    std::fs::write(&key_only, &leaf.key_pem).expect("write");
    let store = dir.path().join("store");
    let key_body: String = leaf.key_pem.lines().nth(1).expect("key line").to_string();
    for format in ["json", "table", "csv"] {
        let out = certctl(
            &store,
            &[
                "scan",
                "-o",
                format,
                combined.to_str().expect("utf8"),
                key_only.to_str().expect("utf8"),
            ],
        );
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let all = format!("{}{}", stdout(&out), stderr(&out));
        assert!(!all.contains(&key_body), "key material leaked in {format}");
        assert!(!all.contains("PRIVATE KEY"), "{all}");
    }
    let locs = scan_paths(&store, &[combined.to_str().expect("utf8")]);
    assert_eq!(locs.len(), 1);
    assert_eq!(locs[0]["certificate"]["serial"], leaf.serial_hex);
}

#[test]
fn garbage_and_truncated_files_are_findings_that_name_path_and_line() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let good = pki.leaf(&["g.example.test"], -1, 100, SignedBy::Intermediate);
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, b"\x00\x01 this is not a certificate \xff").expect("write");
    let truncated = dir.path().join("truncated.pem");
    let half = &good.pem[..good.pem.len() / 2];
    std::fs::write(&truncated, format!("# comment\n{half}")).expect("write");
    let partial = dir.path().join("partial.pem");
    std::fs::write(&partial, format!("{}{half}", good.pem)).expect("write");
    let good_path = dir.path().join("good.pem");
    std::fs::write(&good_path, &good.pem).expect("write");
    let missing = dir.path().join("missing.pem");
    let store = dir.path().join("store");
    let args: Vec<String> = [&garbage, &truncated, &partial, &good_path, &missing]
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let locs = scan_paths(&store, &args);
    let message_for = |target: String| -> String {
        let loc = locs
            .iter()
            .find(|l| l["target"] == target)
            .unwrap_or_else(|| panic!("no location {target} in {locs:#?}"));
        assert_eq!(codes(loc), vec!["parse_error"], "{loc:#}");
        loc["findings"][0]["message"]
            .as_str()
            .expect("message")
            .to_string()
    };
    let g = message_for(garbage.display().to_string());
    assert!(
        g.contains("garbage.pem") && g.contains("no certificate found"),
        "{g}"
    );
    let t = message_for(truncated.display().to_string());
    assert!(
        t.contains("truncated.pem: line 2:") && t.contains("truncated"),
        "{t}"
    );
    // The good certificate in a partly broken bundle is still inventoried.
    let p = message_for(format!("{}#1", partial.display()));
    assert!(p.contains("partial.pem: line"), "{p}");
    let first = locs
        .iter()
        .find(|l| l["target"] == partial.display().to_string())
        .expect("partial#0");
    assert_eq!(first["certificate"]["serial"], good.serial_hex);
    // A named file that is not there is its own finding: the server naming it would fail.
    let m = locs
        .iter()
        .find(|l| l["target"] == missing.display().to_string())
        .expect("missing");
    assert_eq!(codes(m), vec!["file_missing"], "{m:#}");
    assert_eq!(m["status"], "critical", "{m:#}");
    let m = m["findings"][0]["message"].as_str().expect("message");
    assert!(m.contains("missing.pem: no such file"), "{m}");
    // And the scan still reports the good file with no findings.
    let g = locs
        .iter()
        .find(|l| l["target"] == good_path.display().to_string())
        .expect("good");
    assert_eq!(codes(g), Vec::<String>::new());
}

#[test]
fn globs_select_files() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().expect("tempdir");
    for name in ["one.crt", "two.crt", "three.pem"] {
        let leaf = pki.leaf(&[name], -1, 100, SignedBy::Intermediate);
        std::fs::write(dir.path().join(name), leaf.pem).expect("write");
    }
    let store = dir.path().join("store");
    let pattern = format!("{}/*.crt", dir.path().display());
    let locs = scan_paths(&store, &[&pattern]);
    assert_eq!(locs.len(), 2, "{locs:#?}");
}

#[test]
fn weak_keys_and_signatures_in_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let weak = dir.path().join("weak.pem");
    let key = dir.path().join("weak.key");
    let status = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:1024", "-nodes", "-sha1", "-days", "40",
        ])
        .args(["-subj", "/CN=weak", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&weak)
        .output()
        .expect("openssl");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    // Sign a leaf with that weak self-signed CA using SHA-1.
    let leaf = dir.path().join("leaf.pem");
    let leaf_key = dir.path().join("leaf.key");
    let csr = dir.path().join("leaf.csr");
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let s = |p: &std::path::Path| p.display().to_string();
    run(&[
        "req",
        "-new",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=leaf",
        "-keyout",
        &s(&leaf_key),
        "-out",
        &s(&csr),
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        &s(&csr),
        "-CA",
        &s(&weak),
        "-CAkey",
        &s(&key),
        "-CAcreateserial",
        "-days",
        "40",
        "-sha1",
        "-out",
        &s(&leaf),
    ]);
    let store = dir.path().join("store");
    let locs = scan_paths(&store, &[&s(&weak), &s(&leaf)]);
    let find = |p: &std::path::Path| {
        locs.iter()
            .find(|l| l["target"] == s(p))
            .map(codes)
            .expect("location")
    };
    // The self-signed root: weak key counts, its own SHA-1 self-signature does not.
    assert_eq!(find(&weak), vec!["weak_key"]);
    assert_eq!(find(&leaf), vec!["weak_signature"]);
}

#[test]
fn sm2_certificates_are_named_as_such() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("sm2.key");
    let cert = dir.path().join("sm2.pem");
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl");
        assert!(out.status.success(), "{}", stderr(&out));
    };
    let s = |p: &std::path::Path| p.display().to_string();
    run(&["genpkey", "-algorithm", "SM2", "-out", &s(&key)]);
    run(&[
        "req",
        "-new",
        "-x509",
        "-key",
        &s(&key),
        "-sm3",
        "-subj",
        "/CN=sm2.example.test",
        "-days",
        "90",
        "-out",
        &s(&cert),
    ]);
    let store = dir.path().join("store");
    let all = scan_paths(&store, &[&s(&cert)]);
    assert_eq!(all.len(), 1, "{all:?}");
    let c = &all[0]["certificate"];
    assert_eq!(c["key"], "SM2 256", "{c:#}");
    assert_eq!(c["signature_algorithm"], "SM2-with-SM3", "{c:#}");
    // Neither is mistaken for a weak key or signature.
    assert!(
        !codes(&all[0]).iter().any(|c| c.starts_with("weak")),
        "{:?}",
        codes(&all[0])
    );
}

/// A self-signed CA certificate valid from `from_days` to `to_days` (relative to now), in PEM.
fn root_pem(cn: &str, from_days: i64, to_days: i64) -> String {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now + time::Duration::days(from_days);
    params.not_after = now + time::Duration::days(to_days);
    let key = rcgen::KeyPair::generate().expect("key");
    params.self_signed(&key).expect("root").pem()
}

#[test]
fn a_trust_store_lists_each_root_once_and_an_expired_root_is_information() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store_dir = dir.path().join("certs");
    std::fs::create_dir(&store_dir).expect("dir");
    let old = root_pem("Old Root", -3000, -10);
    let good = root_pem("Good Root", -10, 3000);
    std::fs::write(store_dir.join("Old_Root.pem"), &old).expect("write");
    std::fs::write(store_dir.join("Good_Root.pem"), &good).expect("write");
    std::fs::write(
        store_dir.join("ca-certificates.crt"),
        format!("{good}{old}"),
    )
    .expect("bundle");
    let run = |trust_store: bool| {
        let config = write_config(
            dir.path(),
            &format!(
                "[store]\npath = \"{d}/store-{trust_store}\"\n[[files]]\npath = \"{p}\"\ntrust_store = {trust_store}\n",
                d = dir.path().display(),
                p = store_dir.display()
            ),
        );
        ok(certctl_config(&config, &["scan"]));
        let doc: Value =
            serde_json::from_slice(&ok(certctl_config(&config, &["list", "-o", "json"])).stdout)
                .expect("json");
        let check = certctl_config(&config, &["check"]).status.code();
        let grouped = stdout(&ok(certctl_config(&config, &["list", "--group", "cert"])));
        (
            doc["locations"].as_array().expect("array").clone(),
            check,
            grouped,
        )
    };
    // As a trust store: two roots, each once, from its own file; the expired one is info.
    let (all, check, _) = run(true);
    let targets: Vec<&str> = all.iter().filter_map(|l| l["target"].as_str()).collect();
    assert_eq!(targets.len(), 2, "{targets:?}");
    assert!(
        targets.iter().all(|t| t.ends_with("_Root.pem")),
        "{targets:?}"
    );
    let old_loc = all
        .iter()
        .find(|l| {
            l["target"]
                .as_str()
                .is_some_and(|t| t.ends_with("Old_Root.pem"))
        })
        .expect("old root");
    assert_eq!(old_loc["status"], "ok", "{old_loc:#}");
    assert_eq!(old_loc["findings"][0]["code"], "expired");
    assert_eq!(old_loc["findings"][0]["severity"], "info");
    assert_eq!(check, Some(0));
    // As plain files: four locations, the expired root critical twice; grouped, once each.
    let (all, check, grouped) = run(false);
    assert_eq!(all.len(), 4);
    assert_eq!(
        all.iter().filter(|l| l["status"] == "critical").count(),
        2,
        "{all:#?}"
    );
    assert_eq!(check, Some(2));
    let rows: Vec<&str> = grouped.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{grouped}");
    assert!(rows.iter().all(|r| r.contains("(+1 more)")), "{grouped}");
}

#[test]
fn the_sample_config_starts_calm() {
    // The README's first command on this machine: nothing in the trust store is critical.
    let dir = tempfile::tempdir().expect("tempdir");
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/certctl.toml");
    let store = dir.path().join("store");
    ok(certctl(
        &store,
        &["scan", "--config", sample.to_str().expect("utf8")],
    ));
    let check = certctl(
        &store,
        &["check", "--config", sample.to_str().expect("utf8")],
    );
    assert_ne!(check.status.code(), Some(2), "{}", stdout(&check));
    let doc = certctl_json(
        &store,
        &[
            "list",
            "--config",
            sample.to_str().expect("utf8"),
            "-o",
            "json",
        ],
    );
    let all = doc["locations"].as_array().expect("array");
    let mut seen = std::collections::HashSet::new();
    for l in all.iter().filter(|l| l["name"] == "system-trust-store") {
        let sha = l["certificate"]["sha256"]
            .as_str()
            .expect("sha")
            .to_string();
        assert!(seen.insert(sha), "a root is listed twice: {}", l["target"]);
    }
    assert!(seen.len() > 50, "the trust store was read: {}", seen.len());
}
