//! The command line as a user meets it: config errors, exit codes, formats, a busy store.

mod common;

use common::*;

#[test]
fn every_config_error_is_reported_at_once_with_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(
        dir.path(),
        "[scan]\ntimeout = \"10 parsecs\"\nca_files = [\"/nonexistent/ca.pem\"]\n\n[[endpoint]]\naddress = \"example.test:443\"\nservername = \"www.example.test\"\n\n[alerts]\nwarn_before = \"30d\"\n",
    );
    let out = certctl(
        &dir.path().join("store"),
        &["list", "-c", config.to_str().expect("utf8")],
    );
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    let file = config.display().to_string();
    assert!(err.contains("3 problems"), "{err}");
    assert!(
        err.contains(&format!("{file}:7: endpoint[0].servername: unknown key")),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{file}:2: scan.timeout: invalid duration \"10 parsecs\""
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{file}:3: scan.ca_files[0]: cannot read CA file /nonexistent/ca.pem"
        )),
        "{err}"
    );
    assert!(
        !dir.path().join("store").exists(),
        "nothing is touched before the config is valid"
    );
}

#[test]
fn syntax_errors_name_the_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), "[scan]\ntimeout = \"1s\"\nconcurrency = \n");
    let out = certctl(
        &dir.path().join("store"),
        &["scan", "-c", config.to_str().expect("utf8")],
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("certctl.toml:3:"), "{}", stderr(&out));
}

#[test]
fn config_found_through_environment_variable() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let leaf = pki.leaf(&["env.example.test"], -1, 100, SignedBy::Intermediate);
    let (cert, _) = pki.write_leaf("env", &leaf, false);
    let config = write_config(
        dir.path(),
        &format!(
            "[[files]]\npath = \"{}\"\nname = \"env-cert\"\nlabels = {{ team = \"ops\" }}\n",
            cert.display()
        ),
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_certctl"))
        .args(["scan", "-o", "json"])
        .env("CERTCTL_CONFIG", &config)
        .env("CERTCTL_STORE", dir.path().join("store"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["locations"][0]["name"], "env-cert");
    assert_eq!(doc["locations"][0]["labels"]["team"], "ops");
}

#[test]
fn list_while_another_process_holds_the_store_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store");
    let held = certctl::store::Store::open(&path).expect("open store");
    let out = certctl(&path, &["list"]);
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(err.contains("in use by another certctl process"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    drop(held);
    let out = certctl(&path, &["list"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("no certificates in the inventory"));
}

#[test]
fn scan_with_a_busy_store_still_shows_results() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let leaf = pki.leaf(&["busy.example.test"], -1, 100, SignedBy::Intermediate);
    let (cert, _) = pki.write_leaf("busy", &leaf, false);
    let path = dir.path().join("store");
    let _held = certctl::store::Store::open(&path).expect("open store");
    let out = certctl(&path, &["scan", cert.to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("busy.example.test"));
    assert!(stderr(&out).contains("not recorded"), "{}", stderr(&out));
}

#[test]
fn check_exit_codes_and_csv() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let fine = pki.leaf(&["fine.example.test"], -1, 100, SignedBy::Intermediate);
    let (fine_path, _) = pki.write_leaf("fine", &fine, false);
    let config = write_config(
        dir.path(),
        &format!("[[files]]\npath = \"{}\"\n", fine_path.display()),
    );
    let cfg = config.to_str().expect("utf8");
    let out = certctl(&store, &["check", "-c", cfg, "--scan"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).starts_with("CERTCTL OK - 0 critical, 0 warning, 1 ok"));

    let dead = pki.leaf(&["dead.example.test"], -30, -1, SignedBy::Intermediate);
    let (dead_path, _) = pki.write_leaf("dead", &dead, false);
    let out = certctl(
        &store,
        &["scan", "-c", cfg, dead_path.to_str().expect("utf8")],
    );
    assert_eq!(out.status.code(), Some(0));
    let out = certctl(&store, &["check", "-c", cfg]);
    assert_eq!(out.status.code(), Some(2));
    let text = stdout(&out);
    assert!(
        text.starts_with("CERTCTL CRITICAL - 1 critical, 0 warning, 1 ok"),
        "{text}"
    );
    assert!(text.contains("dead.crt expired:"), "{text}");

    let out = certctl(&store, &["list", "-c", cfg, "-o", "csv"]);
    let csv = stdout(&out);
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some(
            "id,target,name,status,days_left,not_after,subject,issuer,serial,sha256,sans,findings,labels"
        )
    );
    let first = lines.next().expect("row");
    assert!(
        first.contains(&dead.serial_hex) && first.contains(",critical,"),
        "{first}"
    );
    assert!(
        first.ends_with(",expired,"),
        "findings, then the (empty) labels: {first}"
    );

    let doc = certctl_json(
        &store,
        &["list", "-c", cfg, "--status", "critical", "-o", "json"],
    );
    assert_eq!(doc["locations"].as_array().expect("array").len(), 1);
    let doc = certctl_json(
        &store,
        &["list", "-c", cfg, "--finding", "expired", "-o", "json"],
    );
    assert_eq!(
        doc["locations"][0]["certificate"]["serial"],
        dead.serial_hex
    );
    let out = certctl(&store, &["list", "-c", cfg, "--finding", "bogus"]);
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn show_finds_by_name_id_prefix_and_reports_ambiguity() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let leaf = pki.leaf(&["show.example.test"], -1, 100, SignedBy::Intermediate);
    let (path, _) = pki.write_leaf("show", &leaf, true);
    let config = write_config(
        dir.path(),
        &format!("[[files]]\npath = \"{}\"\nname = \"web\"\n", path.display()),
    );
    let cfg = config.to_str().expect("utf8");
    assert_eq!(certctl(&store, &["scan", "-c", cfg]).status.code(), Some(0));
    // Two certificates in the file share the name: ambiguous.
    let out = certctl(&store, &["show", "-c", cfg, "web"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("matches 2 locations"),
        "{}",
        stderr(&out)
    );
    let doc = certctl_json(&store, &["list", "-c", cfg, "-o", "json"]);
    let id = doc["locations"]
        .as_array()
        .expect("array")
        .iter()
        .find(|l| l["certificate"]["serial"] == leaf.serial_hex)
        .and_then(|l| l["id"].as_str())
        .expect("id")
        .to_string();
    let out = certctl(&store, &["show", "-c", cfg, &id[..6]]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(&leaf.serial_hex) && text.contains("show.example.test"),
        "{text}"
    );
    let out = certctl(&store, &["show", "-c", cfg, "nothing-like-this"]);
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn nothing_to_scan_is_explained() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), "");
    let out = certctl(
        &dir.path().join("store"),
        &["scan", "-c", config.to_str().expect("utf8")],
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("nothing to scan"), "{}", stderr(&out));
}

#[test]
fn bad_arguments_exit_3_and_help_exits_0() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = certctl(dir.path(), &["list", "--output", "yaml"]);
    assert_eq!(out.status.code(), Some(3));
    let out = certctl(dir.path(), &["--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("scan"));
    let out = certctl(dir.path(), &["scan", "http://example.test"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("not TLS"), "{}", stderr(&out));
}
