//! ACME issuance and renewal against a real Pebble (Debian's `pebble` package), with Pebble's
//! default 5% nonce rejection left on so that badNonce retries are exercised.

#[path = "acme/cloud_dns.rs"]
mod cloud_dns;
mod common;

use std::path::{Path, PathBuf};

use common::bind::Bind;
use common::pdns::PowerDns;
use common::pebble::{Pebble, PebbleOptions, dns_hook_with};
use common::*;

struct Setup {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Setup {
    /// A config with one Pebble account and the given `[[certificate]]` blocks.
    fn new(pebble: &Pebble, account_extra: &str, certificates: &str) -> Setup {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = format!(
            "[store]\npath = \"{}/state/store\"\n\n[acme.accounts.pebble]\ndirectory = \"{}\"\nagree_tos = true\ncontact = [\"mailto:ops@example.test\"]\nca_file = \"{}\"\n{account_extra}\n\n{certificates}",
            dir.path().display(),
            pebble.directory(),
            pebble.tls_root().display(),
        );
        let config = write_config(dir.path(), &text);
        Setup { dir, config }
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        certctl_config(&self.config, args)
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn current(&self, name: &str) -> PathBuf {
        self.state().join("certs").join(name).join("current")
    }
}

fn http01(name: &str, domains: &str, pebble: &Pebble, extra: &str) -> String {
    format!(
        "[[certificate]]\nname = \"{name}\"\ndomains = [{domains}]\n{extra}\n[certificate.challenge]\ntype = \"http-01\"\nlisten = \"127.0.0.1:{}\"\n",
        pebble.http_port
    )
}

fn openssl_verify(root_pem: &str, dir: &Path) {
    let root = dir.join("issuer-root.pem");
    std::fs::write(&root, root_pem).expect("root");
    let out = std::process::Command::new("openssl")
        .arg("verify")
        .arg("-CAfile")
        .arg(&root)
        .arg("-untrusted")
        .arg(dir.join("chain.pem"))
        .arg(dir.join("cert.pem"))
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "chain does not verify against Pebble's root: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn http01_standalone_issues_a_verified_chain_and_reuses_the_account() {
    let pebble = Pebble::start(PebbleOptions::default());
    let setup = Setup::new(
        &pebble,
        "",
        &format!(
            "{}{}",
            http01("www", "\"www.example.test\", \"example.test\"", &pebble, ""),
            http01("kept", "\"kept.example.test\"", &pebble, "reuse_key = true"),
        ),
    );
    let out = ok(setup.run(&["issue", "www"]));
    assert!(
        stdout(&out).contains("installed serial"),
        "{}",
        stdout(&out)
    );
    let current = setup.current("www");
    for file in ["cert.pem", "chain.pem", "fullchain.pem", "privkey.pem"] {
        assert!(current.join(file).exists(), "{file}");
    }
    assert_eq!(mode(&current.join("privkey.pem")), 0o600);
    openssl_verify(&pebble.issuer_root_pem(), &current);
    let account_file = setup.state().join("accounts/pebble.json");
    assert_eq!(mode(&account_file), 0o600);
    let account_before = std::fs::read_to_string(&account_file).expect("account");
    let key_before = std::fs::read_to_string(current.join("privkey.pem")).expect("key");

    // The issued certificate is part of the inventory, named after the managed certificate.
    let doc =
        serde_json::from_slice::<serde_json::Value>(&setup.run(&["list", "-o", "json"]).stdout)
            .expect("json");
    let loc = &doc["locations"][0];
    assert_eq!(loc["name"], "www");
    assert_eq!(loc["labels"]["managed"], "acme");
    let sans = loc["certificate"]["sans"].as_array().expect("sans");
    assert_eq!(sans.len(), 2);

    // Not due yet: a plain renew does nothing; --force renews with the same account.
    let first_serial = loc["certificate"]["serial"]
        .as_str()
        .expect("serial")
        .to_string();
    let out = ok(setup.run(&["renew", "--all"]));
    assert!(stdout(&out).contains("not due until"), "{}", stdout(&out));
    ok(setup.run(&["renew", "www", "--force"]));
    let after = std::fs::read_to_string(&account_file).expect("account");
    assert_eq!(account_before, after, "registration is idempotent");
    let doc =
        serde_json::from_slice::<serde_json::Value>(&setup.run(&["list", "-o", "json"]).stdout)
            .expect("json");
    assert_ne!(
        doc["locations"][0]["certificate"]["serial"],
        first_serial.as_str()
    );
    let versions = std::fs::read_dir(setup.state().join("certs/www/versions"))
        .expect("versions")
        .count();
    assert_eq!(versions, 2, "the previous version is kept for rollback");
    let key_after = std::fs::read_to_string(current.join("privkey.pem")).expect("key");
    assert_ne!(key_before, key_after, "a fresh key by default");

    // reuse_key: the renewed certificate keeps the key (e.g. for pinning or DANE).
    let kept = setup.current("kept");
    ok(setup.run(&["issue", "kept"]));
    let key = std::fs::read_to_string(kept.join("privkey.pem")).expect("key");
    let cert = std::fs::read_to_string(kept.join("cert.pem")).expect("cert");
    ok(setup.run(&["renew", "kept", "--force"]));
    assert_eq!(
        std::fs::read_to_string(kept.join("privkey.pem")).expect("key"),
        key
    );
    assert_ne!(
        std::fs::read_to_string(kept.join("cert.pem")).expect("cert"),
        cert
    );
    assert_eq!(mode(&kept.join("privkey.pem")), 0o600);

    let out = setup.run(&["accounts"]);
    assert!(stdout(&out).contains("registered"), "{}", stdout(&out));
}

fn orders_in(pebble: &Pebble) -> usize {
    pebble.log().matches("Added order").count()
}

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", stdout(out), stderr(out)))
}

#[test]
fn http01_webroot_served_by_real_nginx_and_cleaned_up() {
    let pebble = Pebble::start(PebbleOptions::default());
    let webroot = tempfile::tempdir().expect("webroot");
    let _nginx = Nginx::start_webroot(pebble.http_port, webroot.path());
    let setup = Setup::new(
        &pebble,
        "",
        &format!(
            "[[certificate]]\nname = \"site\"\ndomains = [\"site.example.test\"]\n[certificate.challenge]\ntype = \"http-01\"\nwebroot = \"{}\"\n",
            webroot.path().display()
        ),
    );
    let out = setup.run(&["issue", "site"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}\n{}",
        stdout(&out),
        stderr(&out),
        pebble.log()
    );
    let challenge_dir = webroot.path().join(".well-known/acme-challenge");
    let left: Vec<_> = std::fs::read_dir(&challenge_dir)
        .expect("challenge dir")
        .collect();
    assert!(left.is_empty(), "challenge files are cleaned up: {left:?}");
    openssl_verify(&pebble.issuer_root_pem(), &setup.current("site"));
}

#[test]
fn tls_alpn01_standalone_with_rsa_key() {
    let pebble = Pebble::start(PebbleOptions::default());
    let setup = Setup::new(
        &pebble,
        "",
        &format!(
            "[[certificate]]\nname = \"alpn\"\ndomains = [\"alpn.example.test\"]\nkey_type = \"rsa2048\"\n[certificate.challenge]\ntype = \"tls-alpn-01\"\nlisten = \"127.0.0.1:{}\"\n",
            pebble.tls_port
        ),
    );
    let out = setup.run(&["issue", "alpn", "-o", "json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}\n{}",
        stdout(&out),
        stderr(&out),
        pebble.log()
    );
    let reports = json(&out);
    assert_eq!(reports[0]["result"], "installed");
    let doc = json(&setup.run(&["list", "-o", "json"]));
    assert_eq!(doc["locations"][0]["certificate"]["key"], "RSA 2048");
    openssl_verify(&pebble.issuer_root_pem(), &setup.current("alpn"));
}

/// A lego-style exec hook that publishes TXT records in challtestsrv and logs its calls.
fn dns_hook(dir: &Path, pebble: &Pebble, kill_marker: Option<&Path>) -> PathBuf {
    let kill = match kill_marker {
        // Simulates a crash of certctl in the middle of an order, once.
        Some(marker) => format!(
            "if [ \"$1\" = present ] && [ ! -e {m} ]; then touch {m}; kill -9 $PPID; sleep 5; fi\n",
            m = marker.display()
        ),
        None => String::new(),
    };
    dns_hook_with(dir, pebble, &kill)
}

fn dns01(name: &str, domains: &str, hook: &Path) -> String {
    format!(
        "[[certificate]]\nname = \"{name}\"\ndomains = [{domains}]\n[certificate.challenge]\ntype = \"dns-01\"\ndns_provider = \"exec\"\ndns_exec = \"{}\"\n",
        hook.display()
    )
}

#[test]
fn dns01_exec_hook_issues_a_wildcard_and_cleans_up() {
    let pebble = Pebble::start(PebbleOptions::default());
    let hooks = tempfile::tempdir().expect("hooks");
    let hook = dns_hook(hooks.path(), &pebble, None);
    let setup = Setup::new(
        &pebble,
        "",
        &dns01(
            "wild",
            "\"wild.example.test\", \"*.wild.example.test\"",
            &hook,
        ),
    );
    let out = setup.run(&["issue", "wild"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}\n{}",
        stdout(&out),
        stderr(&out),
        pebble.log()
    );
    let log = std::fs::read_to_string(hooks.path().join("dns-hook.log")).expect("hook log");
    assert_eq!(
        log.matches("present _acme-challenge.wild.example.test.")
            .count(),
        2,
        "{log}"
    );
    assert_eq!(
        log.matches("cleanup _acme-challenge.wild.example.test.")
            .count(),
        2,
        "{log}"
    );
    let doc = json(&setup.run(&["list", "-o", "json"]));
    let sans = doc["locations"][0]["certificate"]["sans"].clone();
    assert!(
        sans.as_array()
            .expect("sans")
            .contains(&"*.wild.example.test".into()),
        "{sans}"
    );
}

#[test]
fn eab_is_required_used_and_never_logged() {
    let kid = "kid-1";
    let hmac = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W";
    let pebble = Pebble::start(PebbleOptions {
        eab: Some((kid.into(), hmac.into())),
        ..PebbleOptions::default()
    });
    // Without EAB the CA refuses, and says why.
    let without = Setup::new(
        &pebble,
        "",
        &http01("eab", "\"eab.example.test\"", &pebble, ""),
    );
    let out = without.run(&["issue", "eab"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("externalAccountRequired"),
        "{}",
        stdout(&out)
    );

    let keys = tempfile::tempdir().expect("keys");
    let key_file = keys.path().join("eab.key");
    std::fs::write(&key_file, hmac).expect("key");
    let with = Setup::new(
        &pebble,
        &format!(
            "eab_kid = \"{kid}\"\neab_hmac_key_file = \"{}\"",
            key_file.display()
        ),
        &http01("eab", "\"eab.example.test\"", &pebble, ""),
    );
    let out = ok(with.run(&["-vv", "issue", "eab"]));
    let everything = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        !everything.contains(hmac),
        "the EAB key leaked into the output"
    );
    let accounts = with.run(&["accounts", "-o", "json"]);
    assert!(!stdout(&accounts).contains(hmac));
    assert_eq!(json(&accounts)[0]["eab"], true);
}

#[test]
fn failed_validation_is_recorded_and_backs_off() {
    let pebble = Pebble::start(PebbleOptions::default());
    // certctl listens on a port Pebble does not validate against: validation must fail.
    let wrong = free_port();
    let setup = Setup::new(
        &pebble,
        "",
        &format!(
            "[[certificate]]\nname = \"bad\"\ndomains = [\"bad.example.test\"]\n[certificate.challenge]\ntype = \"http-01\"\nlisten = \"127.0.0.1:{wrong}\"\n",
        ),
    );
    let out = setup.run(&["renew", "--all", "-o", "json"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let reports = json(&out);
    assert_eq!(reports[0]["result"], "failed");
    assert_eq!(reports[0]["failures"], 1);
    let error = reports[0]["error"].as_str().expect("error");
    assert!(
        error.contains("validation failed") && error.contains("bad.example.test"),
        "{error}"
    );

    // Recorded durably and visible in `list`.
    let doc = json(&setup.run(&["list", "-o", "json"]));
    assert_eq!(doc["renewal_failures"][0]["name"], "bad");
    assert_eq!(doc["renewal_failures"][0]["failures"], 1);
    let listed = setup.run(&["list"]);
    assert!(
        stderr(&listed).contains("renewal of bad is failing"),
        "{}",
        stderr(&listed)
    );

    // The next run backs off instead of hammering the CA.
    let before = orders_in(&pebble);
    let out = ok(setup.run(&["renew", "--all"]));
    assert!(
        stdout(&out).contains("backing off after 1 failure"),
        "{}",
        stdout(&out)
    );
    assert_eq!(orders_in(&pebble), before, "no order while backing off");
    // --force bypasses the backoff (and fails again, counted).
    let out = setup.run(&["renew", "bad", "--force", "-o", "json"]);
    assert_eq!(json(&out)[0]["failures"], 2);
}

#[test]
fn a_crash_mid_order_resumes_the_same_order() {
    let pebble = Pebble::start(PebbleOptions::default());
    let hooks = tempfile::tempdir().expect("hooks");
    let marker = hooks.path().join("killed-once");
    let hook = dns_hook(hooks.path(), &pebble, Some(&marker));
    let setup = Setup::new(
        &pebble,
        "",
        &dns01("crash", "\"crash.example.test\"", &hook),
    );
    let out = setup.run(&["issue", "crash"]);
    assert_eq!(
        out.status.code(),
        None,
        "certctl was killed by the hook: {}",
        stderr(&out)
    );
    assert!(marker.exists());
    assert_eq!(orders_in(&pebble), 1);
    assert!(
        !setup.current("crash").exists(),
        "nothing is installed by a crashed run"
    );

    let out = ok(setup.run(&["renew", "crash", "-o", "json"]));
    let report = &json(&out)[0];
    assert_eq!(report["decision"], "resume");
    assert_eq!(report["resumed"], true);
    assert_eq!(
        orders_in(&pebble),
        1,
        "the interrupted order was resumed, not replaced"
    );
    openssl_verify(&pebble.issuer_root_pem(), &setup.current("crash"));
}

/// `certctl run` on a Setup's config, killed on drop.
struct Daemon(std::process::Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn socket_renewals_during_a_scheduled_renewal_place_no_second_order() {
    let pebble = Pebble::start(PebbleOptions::default());
    let hooks = tempfile::tempdir().expect("hooks");
    let inside = hooks.path().join("inside-present");
    // The daemon's own renewal (at start) stays inside the challenge step for 3 s: long enough
    // for two CLI commands to arrive through the socket while its order is in flight.
    let hook = dns_hook_with(
        hooks.path(),
        &pebble,
        &format!(
            "if [ \"$1\" = present ]; then touch {m}; sleep 3; fi\n",
            m = inside.display()
        ),
    );
    let setup = Setup::new(&pebble, "", &dns01("race", "\"race.example.test\"", &hook));
    let log = std::fs::File::create(setup.dir.path().join("daemon.log")).expect("log");
    let mut daemon = Daemon(
        std::process::Command::new(env!("CARGO_BIN_EXE_certctl"))
            .args(["run", "--config", setup.config.to_str().expect("utf8")])
            .env_remove("CERTCTL_STORE")
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn certctl run"),
    );
    wait_for("the daemon's renewal to reach the challenge", 30, || {
        inside.exists()
    });
    assert!(setup.state().join("certctl.sock").exists(), "socket is up");
    let config = setup.config.clone();
    let forced = std::thread::spawn(move || {
        certctl_config(&config, &["renew", "race", "--force", "-o", "json"])
    });
    let plain = setup.run(&["renew", "race", "-o", "json"]);
    let forced = forced.join().expect("thread");
    let daemon_log =
        std::fs::read_to_string(setup.dir.path().join("daemon.log")).unwrap_or_default();
    for out in [&plain, &forced] {
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}\n{}\n{daemon_log}",
            stdout(out),
            stderr(out)
        );
    }
    // Both waited for the daemon's renewal, then saw its certificate.
    assert_eq!(json(&plain)[0]["decision"], "not_due", "{}", stdout(&plain));
    assert_eq!(
        json(&forced)[0]["decision"],
        "renewed_meanwhile",
        "{}",
        stdout(&forced)
    );
    assert_eq!(orders_in(&pebble), 1, "one order for three requests");
    let calls = std::fs::read_to_string(hooks.path().join("dns-hook.log")).expect("hook log");
    assert_eq!(
        calls.lines().collect::<Vec<_>>(),
        [
            "present _acme-challenge.race.example.test.",
            "cleanup _acme-challenge.race.example.test."
        ],
        "the order was worked once, from one side"
    );
    let versions = std::fs::read_dir(setup.state().join("certs/race"))
        .expect("certs")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name() != "current" && e.path().is_dir())
        .count();
    assert_eq!(versions, 1, "one version directory");
    openssl_verify(&pebble.issuer_root_pem(), &setup.current("race"));

    // SIGTERM while an `issue` from the socket is in its challenge step: the daemon finishes
    // it (the client gets its answer, the certificate is installed) before it exits.
    std::fs::remove_file(&inside).expect("marker");
    let config = setup.config.clone();
    let issue = std::thread::spawn(move || certctl_config(&config, &["issue", "race"]));
    wait_for("the socket's issue to reach the challenge", 30, || {
        inside.exists()
    });
    let pid = daemon.0.id().to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
    let issued = issue.join().expect("thread");
    assert_eq!(
        issued.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&issued),
        stderr(&issued)
    );
    assert!(
        stdout(&issued).contains("installed serial"),
        "{}",
        stdout(&issued)
    );
    let exited = daemon.0.wait().expect("wait");
    assert!(
        exited.success(),
        "the daemon drained and exited 0: {exited:?}"
    );
    assert_eq!(orders_in(&pebble), 2);
}

#[test]
fn dry_run_and_unknown_names() {
    let pebble = Pebble::start(PebbleOptions::default());
    let setup = Setup::new(
        &pebble,
        "",
        &http01("dry", "\"dry.example.test\"", &pebble, ""),
    );
    let out = setup.run(&["renew", "--all", "--dry-run"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stdout(&out).contains("first issuance -> would renew"),
        "{}",
        stdout(&out)
    );
    assert_eq!(orders_in(&pebble), 0);
    let out = setup.run(&["renew", "nope"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("no [[certificate]] named \"nope\""),
        "{}",
        stderr(&out)
    );
}

/// A config whose CA is `directory` (no Pebble), with a short overall ACME timeout.
fn unreachable_setup(directory: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Pki::new();
    let ca = dir.path().join("ca.pem");
    std::fs::copy(pki.root_path(), &ca).expect("ca");
    let text = format!(
        "[store]\npath = \"{}/state/store\"\n[acme]\ntimeout = \"2s\"\n[acme.accounts.down]\ndirectory = \"{directory}\"\nagree_tos = true\nca_file = \"{}\"\n[[certificate]]\nname = \"x\"\ndomains = [\"x.example.test\"]\n[certificate.challenge]\nlisten = \"127.0.0.1:{}\"\n",
        dir.path().display(),
        ca.display(),
        free_port()
    );
    let config = write_config(dir.path(), &text);
    (dir, config)
}

#[test]
fn unreachable_and_silent_cas_fail_clearly_without_hanging() {
    let closed = closed_port();
    let silent = silent_server();
    for (addr, expect) in [
        (closed, "Connection refused"),
        (silent, "stopped answering"),
    ] {
        let (dir, config) = unreachable_setup(&format!("https://{addr}/dir"));
        let started = std::time::Instant::now();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_certctl"))
            .args(["issue", "x", "--config", config.to_str().expect("utf8")])
            .env_remove("CERTCTL_STORE")
            .output()
            .expect("run");
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
        assert_eq!(
            out.status.code(),
            Some(2),
            "{}\n{}",
            stdout(&out),
            stderr(&out)
        );
        let text = stdout(&out);
        assert!(text.contains("FAILED") && text.contains(expect), "{text}");
        // The failure is recorded: the next run backs off.
        let again = std::process::Command::new(env!("CARGO_BIN_EXE_certctl"))
            .args(["renew", "--all", "--config", config.to_str().expect("utf8")])
            .env_remove("CERTCTL_STORE")
            .output()
            .expect("run");
        assert!(stdout(&again).contains("backing off"), "{}", stdout(&again));
        drop(dir);
    }
}

fn rfc2136(name: &str, domains: &str, bind: &Bind, secret_file: &Path) -> String {
    format!(
        "[[certificate]]\nname = \"{name}\"\ndomains = [{domains}]\n[certificate.challenge]\ntype = \"dns-01\"\ndns_provider = \"rfc2136\"\ndns_server = \"127.0.0.1:{}\"\ntsig_key = \"{}\"\ntsig_secret_file = \"{}\"\n",
        bind.port,
        bind.key_name,
        secret_file.display()
    )
}

#[test]
fn dns01_rfc2136_updates_a_real_bind_with_tsig_and_cleans_up() {
    let bind = Bind::start("example.test", "certctl-update.");
    let pebble = Pebble::start(PebbleOptions {
        dns_server: Some(bind.addr()),
        ..PebbleOptions::default()
    });
    let setup = Setup::new(
        &pebble,
        "",
        &rfc2136(
            "wild",
            "\"wild.example.test\", \"*.wild.example.test\"",
            &bind,
            &bind.key_file(),
        ),
    );
    let out = setup.run(&["issue", "wild"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}\n{}\n{}",
        stdout(&out),
        stderr(&out),
        pebble.log(),
        bind.log()
    );
    // Pebble asked BIND, BIND had both values (one per identifier, one shared name), and the
    // zone is clean again.
    let log = bind.log();
    assert!(
        log.contains("updating zone 'example.test/IN': adding an RR at '_acme-challenge.wild.example.test' TXT"),
        "{log}"
    );
    assert_eq!(
        log.matches("deleting an RR at _acme-challenge.wild.example.test TXT")
            .count(),
        2,
        "{log}"
    );
    assert!(bind.txt("_acme-challenge.wild.example.test").is_empty());
    openssl_verify(&pebble.issuer_root_pem(), &setup.current("wild"));
    let doc = json(&setup.run(&["list", "-o", "json"]));
    let sans = doc["locations"][0]["certificate"]["sans"].clone();
    assert!(
        sans.as_array()
            .expect("sans")
            .contains(&"*.wild.example.test".into()),
        "{sans}"
    );
    // The secret never shows up in anything certctl printed.
    for text in [stdout(&out), stderr(&out)] {
        assert!(!text.contains(&bind.secret), "secret leaked: {text}");
    }
}

fn powerdns(name: &str, domains: &str, pdns: &PowerDns, key_file: &Path) -> String {
    format!(
        "[[certificate]]\nname = \"{name}\"\ndomains = [{domains}]\n[certificate.challenge]\ntype = \"dns-01\"\ndns_provider = \"powerdns\"\ndns_api_url = \"{}\"\ndns_api_key_file = \"{}\"\n",
        pdns.api_url(),
        key_file.display()
    )
}

#[test]
fn dns01_powerdns_issues_a_wildcard_through_a_real_pdns_api_and_cleans_up() {
    let pdns = PowerDns::start("example.test");
    let pebble = Pebble::start(PebbleOptions {
        dns_server: Some(pdns.addr()),
        ..PebbleOptions::default()
    });
    let key_file = pdns.dir.path().join("api.key");
    std::fs::write(&key_file, format!("{}\n", pdns.api_key)).expect("key");
    let setup = Setup::new(
        &pebble,
        "",
        &powerdns(
            "wild",
            "\"wild.example.test\", \"*.wild.example.test\"",
            &pdns,
            &key_file,
        ),
    );
    let out = setup.run(&["issue", "wild"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}\n{}\n{}",
        stdout(&out),
        stderr(&out),
        pebble.log(),
        pdns.log()
    );
    // Both values (one per identifier, one shared name) were served, so Pebble validated both,
    // and the zone is clean again.
    assert!(pdns.txt("_acme-challenge.wild.example.test").is_empty());
    openssl_verify(&pebble.issuer_root_pem(), &setup.current("wild"));
    for text in [stdout(&out), stderr(&out)] {
        assert!(!text.contains(&pdns.api_key), "API key leaked: {text}");
    }

    // A wrong key: a clear error naming the provider, the record and the server; nothing left.
    let wrong = pdns.dir.path().join("wrong.key");
    std::fs::write(&wrong, "not-the-key\n").expect("key");
    let setup = Setup::new(
        &pebble,
        "",
        &powerdns("www", "\"www.example.test\"", &pdns, &wrong),
    );
    let out = setup.run(&["issue", "www"]);
    let err = stderr(&out);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains(&format!(
            "powerdns adding TXT _acme-challenge.www.example.test. at {}: HTTP 401: the API key was refused",
            pdns.api_url()
        )),
        "{err}"
    );
    assert!(!err.contains("not-the-key"), "{err}");
    assert!(pdns.txt("_acme-challenge.www.example.test").is_empty());
    assert!(!setup.current("www").exists());
}

#[test]
fn dns01_alias_mode_writes_the_records_in_the_delegated_zone() {
    // example.test delegates its challenge names by CNAME to validation.example.net, the only
    // zone certctl's key may change (acme.sh's challenge alias).
    let alias = "_acme-challenge.validation.example.net";
    let bind = Bind::start_with(
        "example.test",
        "certctl-update.",
        &["validation.example.net"],
        &format!("_acme-challenge.shop IN CNAME {alias}.\n_acme-challenge.api IN CNAME {alias}.\n"),
    );
    let pebble = Pebble::start(PebbleOptions {
        dns_server: Some(bind.addr()),
        ..PebbleOptions::default()
    });
    let mut cert = rfc2136(
        "shop",
        "\"shop.example.test\", \"*.shop.example.test\", \"api.example.test\"",
        &bind,
        &bind.key_file(),
    );
    cert.push_str(&format!("dns_alias = \"{alias}\"\n"));
    let setup = Setup::new(&pebble, "", &cert);
    let out = setup.run(&["issue", "shop"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}\n{}\n{}",
        stdout(&out),
        stderr(&out),
        pebble.log(),
        bind.log()
    );
    let log = bind.log();
    assert!(
        log.contains("updating zone 'validation.example.net/IN': adding an RR at '_acme-challenge.validation.example.net' TXT"),
        "{log}"
    );
    assert!(
        !log.contains("updating zone 'example.test/IN'"),
        "nothing written in the delegating zone: {log}"
    );
    // Three values (one per identifier) at the one alias name, all removed again.
    assert_eq!(
        log.matches("deleting an RR at _acme-challenge.validation.example.net TXT")
            .count(),
        3,
        "{log}"
    );
    assert!(bind.txt(alias).is_empty());
    openssl_verify(&pebble.issuer_root_pem(), &setup.current("shop"));
}

#[test]
fn dns01_rfc2136_wrong_key_fails_clearly_and_leaves_nothing() {
    let bind = Bind::start("example.test", "certctl-update.");
    let pebble = Pebble::start(PebbleOptions {
        dns_server: Some(bind.addr()),
        ..PebbleOptions::default()
    });
    let wrong = bind.dir.path().join("wrong.key");
    std::fs::write(&wrong, "c2VjcmV0LWJ1dC13cm9uZy1zZWNyZXQtYnV0LXdyb25nIQ==\n").expect("key");
    let setup = Setup::new(
        &pebble,
        "",
        &rfc2136("www", "\"www.example.test\"", &bind, &wrong),
    );
    let out = setup.run(&["issue", "www"]);
    let err = stderr(&out);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains(&format!("rfc2136 adding TXT _acme-challenge.www.example.test. in zone example.test. at 127.0.0.1:{}", bind.port)),
        "{err}"
    );
    assert!(err.contains("tsig_key"), "{err}");
    assert!(!err.contains("c2VjcmV0LWJ1dC13cm9uZy"), "{err}");
    assert!(bind.txt("_acme-challenge.www.example.test").is_empty());
    assert!(!setup.current("www").exists());
}

/// The propagation check against a zone served as on the Internet, by a primary and a secondary
/// on port 53 that the zone's NS records name: issuance waits until both serve the values, and
/// a secondary that never gets them fails the order before the CA is asked, naming the server.
#[test]
fn dns01_propagation_check_asks_every_authoritative_server() {
    // The secondary is told of each change at once (NOTIFY): both servers serve the values.
    let (primary, secondary) = Bind::start_authorities("example.test", true);
    let pebble = Pebble::start(PebbleOptions {
        dns_server: Some(primary.addr()),
        ..PebbleOptions::default()
    });
    let check = "dns_wait = \"60s\"\ndns_resolvers = [\"127.0.0.1\"]\n";
    let setup = Setup::new(
        &pebble,
        "",
        &format!(
            "{}{check}",
            rfc2136(
                "wild",
                "\"wild.example.test\", \"*.wild.example.test\"",
                &primary,
                &primary.key_file()
            )
        ),
    );
    let out = setup.run(&["-v", "issue", "wild"]);
    let err = stderr(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{err}\n{}\n{}",
        stdout(&out),
        primary.log(),
        secondary.log()
    );
    assert!(
        err.contains("dns-01: TXT _acme-challenge.wild.example.test. served by all 2 authoritative servers of example.test. (ns1.example.test. (127.0.0.1), ns2.example.test. (::1))"),
        "{err}"
    );
    assert!(
        secondary.log().contains("notify from "),
        "{}",
        secondary.log()
    );
    openssl_verify(&pebble.issuer_root_pem(), &setup.current("wild"));
    // Pebble logs each validation it makes (the same log is read for its absence below).
    assert!(
        pebble.log().contains("wild.example.test"),
        "{}",
        pebble.log()
    );
    drop((primary, secondary));

    // A secondary that lags (no NOTIFY, refresh in an hour): the check gives up at dns_wait,
    // names it, and removes the record; the CA validated nothing.
    let (primary, secondary) = Bind::start_authorities("example.test", false);
    let pebble = Pebble::start(PebbleOptions {
        dns_server: Some(primary.addr()),
        ..PebbleOptions::default()
    });
    let check = "dns_wait = \"5s\"\ndns_resolvers = [\"127.0.0.1:53\"]\n";
    let setup = Setup::new(
        &pebble,
        "",
        &format!(
            "{}{check}",
            rfc2136("www", "\"www.example.test\"", &primary, &primary.key_file())
        ),
    );
    let out = setup.run(&["issue", "www"]);
    let err = stderr(&out);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("dns-01 propagation: TXT _acme-challenge.www.example.test. is not served by ns2.example.test. (::1) after 5s (dns_wait); the CA was not asked to validate"),
        "{err}"
    );
    assert!(primary.txt("_acme-challenge.www.example.test").is_empty());
    assert!(
        !pebble.log().contains("_acme-challenge.www.example.test"),
        "{}",
        pebble.log()
    );
    assert!(!setup.current("www").exists());
    drop(secondary);
}
