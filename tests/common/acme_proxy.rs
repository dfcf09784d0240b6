//! A real ACME CA that offers ARI (RFC 9773), which Debian's Pebble 2.4 predates: acme-proxy
//! from crates.io (`.ci/install-deps` runs `cargo install acme-proxy`), signing with its
//! embedded local CA and storing orders in SQLite. It suggests renewing in the last third of a
//! certificate's life (Retry-After six hours), or at once, in a window already past, when the
//! certificate was revoked (Retry-After one minute), and it refuses a second order replacing
//! the same certificate with `alreadyReplaced`.
//!
//! Its HTTPS uses a leaf from the test PKI. Its resolver is pebble-challtestsrv, which answers
//! every name with 127.0.0.1, so it validates http-01 against certctl's listener on loopback.

use std::path::PathBuf;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use super::{Pki, SignedBy, free_ports};

pub struct AcmeProxy {
    pub dir: tempfile::TempDir,
    pki: Pki,
    server: Child,
    challtest: Child,
    pub port: u16,
    /// Where it validates http-01 (certctl's standalone listener goes here).
    pub http_port: u16,
}

/// The acme-proxy binary: `$ACME_PROXY` if set, else the one `cargo install` put into
/// `$CARGO_HOME/bin` (by default `~/.cargo/bin`), else whatever the PATH finds.
fn binary() -> String {
    if let Ok(path) = std::env::var("ACME_PROXY") {
        return path;
    }
    let cargo_home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|_| std::env::var("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    match cargo_home.map(|h| h.join("bin/acme-proxy")) {
        Ok(path) if path.exists() => path.display().to_string(),
        _ => "acme-proxy".into(),
    }
}

impl AcmeProxy {
    pub fn start() -> AcmeProxy {
        let dir = tempfile::tempdir().expect("tempdir");
        let pki = Pki::new();
        let tls = pki.leaf(&["127.0.0.1"], -1, 30, SignedBy::Intermediate);
        let (cert, key) = pki.write_leaf("acme-proxy-tls", &tls, true);
        let [port, http_port, dns_port, challtest_mgmt] = free_ports::<4>();
        let d = dir.path().display();
        let (cert, key) = (cert.display(), key.display());
        let config = format!(
            r#"[database]
url = "sqlite://{d}/acme-proxy.db"

[server]
bind_address = "127.0.0.1:{port}"
base_url = "https://127.0.0.1:{port}"

[server.tls]
enabled = true
cert_path = "{cert}"
key_path = "{key}"

[signer.local_ca]
cert_path = "{d}/ca.pem"
key_path = "{d}/ca.key"
crl_path = "{d}/ca.crl"

[challenge]
enabled = ["http-01"]

[challenge.http_01]
port = {http_port}

[dns]
resolver = "127.0.0.1:{dns_port}"

[audit]
reverse_dns = false

[logging]
ansi = false

[profiles.default]
"#
        );
        std::fs::write(dir.path().join("config.toml"), config).expect("write config");
        let challtest = super::pebble::spawn_challtestsrv(dns_port, challtest_mgmt);
        let log = std::fs::File::create(dir.path().join("server.log")).expect("log");
        let server = Command::new(binary())
            .arg("serve")
            .env("ACME_PROXY_CONFIG", dir.path().join("config.toml"))
            .env("NO_COLOR", "1")
            .current_dir(dir.path())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {}: {e} (install it with .ci/install-deps, which runs `cargo install acme-proxy`)",
                    binary()
                )
            });
        let p = AcmeProxy {
            dir,
            pki,
            server,
            challtest,
            port,
            http_port,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err()
            || std::net::TcpStream::connect(("127.0.0.1", challtest_mgmt)).is_err()
        {
            assert!(
                Instant::now() < deadline,
                "acme-proxy did not open port {port}:\n{}",
                p.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        p
    }

    pub fn directory(&self) -> String {
        format!("https://127.0.0.1:{}/profile/default/directory", self.port)
    }

    /// The root of its HTTPS listener (what certctl's `ca_file` must trust).
    pub fn tls_root(&self) -> PathBuf {
        self.pki.root_path()
    }

    /// Runs one of its admin commands against the same database.
    pub fn admin(&self, args: &[&str]) -> Output {
        let out = Command::new(binary())
            .arg("--yes")
            .args(args)
            .env("ACME_PROXY_CONFIG", self.dir.path().join("config.toml"))
            .env("NO_COLOR", "1")
            .current_dir(self.dir.path())
            .output()
            .expect("acme-proxy admin command");
        assert!(
            out.status.success(),
            "acme-proxy {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Every order the CA holds, newest first, as its admin API shows them (`id`, `status`,
    /// `certSerial`, `replaces`, `revokedAt`, ...).
    pub fn orders(&self) -> Vec<serde_json::Value> {
        let out = self.admin(&["order", "list", "--json", "--limit", "1000"]);
        let page: serde_json::Value = serde_json::from_slice(&out.stdout).expect("order list json");
        page["items"].as_array().expect("items").clone()
    }

    /// Revokes, on the CA's side, the certificate with this serial (as a CA does after a key
    /// compromise report or a mis-issuance incident), without the subscriber asking.
    pub fn revoke_serial(&self, serial_hex: &str) {
        let out = self.admin(&["order", "list", "--cert-serial", serial_hex, "--json"]);
        let page: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        let id = page["items"][0]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no order issued serial {serial_hex}: {page}"));
        self.admin(&["order", "revoke", id, "--reason", "4"]);
    }

    /// How often the server logged this event (its log has one `event="..."` per line).
    pub fn events(&self, event: &str) -> usize {
        self.log().matches(&format!("event=\"{event}\"")).count()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for AcmeProxy {
    fn drop(&mut self) {
        for child in [&mut self.server, &mut self.challtest] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
