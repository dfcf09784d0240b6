//! ACME issuance and renewal against a real Pebble (Debian's `pebble` package), with Pebble's
//! default 5% nonce rejection left on so that badNonce retries are exercised.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::pebble::{Pebble, PebbleOptions};
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
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--config", self.config.to_str().expect("utf8")]);
        std::process::Command::new(env!("CARGO_BIN_EXE_certctl"))
            .args(&all)
            .env_remove("CERTCTL_STORE")
            .env_remove("CERTCTL_CONFIG")
            .env("NO_COLOR", "1")
            .output()
            .expect("run certctl")
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

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn http01_standalone_issues_a_verified_chain_and_reuses_the_account() {
    let pebble = Pebble::start(PebbleOptions::default());
    let setup = Setup::new(
        &pebble,
        "",
        &http01("www", "\"www.example.test\", \"example.test\"", &pebble, ""),
    );
    let out = setup.run(&["issue", "www"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
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
    let out = setup.run(&["renew", "--all"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("not due until"), "{}", stdout(&out));
    let out = setup.run(&["renew", "www", "--force"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
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

    let out = setup.run(&["accounts"]);
    assert!(stdout(&out).contains("registered"), "{}", stdout(&out));
}
