//! A real Pebble ACME server and pebble-challtestsrv (Debian's `pebble` package) on loopback
//! ports, killed on drop. Pebble's own HTTPS uses a certificate from a test PKI; its resolver is
//! challtestsrv, which answers every name with 127.0.0.1, so Pebble validates challenges
//! against listeners that certctl starts on 127.0.0.1.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{Pki, SignedBy, free_ports};

/// Options for a Pebble instance.
#[derive(Default, Clone)]
pub struct PebbleOptions {
    /// EAB key id and base64url HMAC key; when set, EAB is required.
    pub eab: Option<(String, String)>,
    /// Extra environment (e.g. PEBBLE_WFE_NONCEREJECT).
    pub env: Vec<(String, String)>,
    /// A resolver for Pebble's validation lookups instead of challtestsrv (e.g. a real BIND).
    pub dns_server: Option<std::net::SocketAddr>,
}

pub struct Pebble {
    pub dir: tempfile::TempDir,
    pki: Pki,
    pebble: Child,
    resolver: String,
    env: Vec<(String, String)>,
    challtest: Child,
    pub port: u16,
    pub mgmt_port: u16,
    pub http_port: u16,
    pub tls_port: u16,
    pub challtest_mgmt: u16,
}

impl Pebble {
    pub fn start(options: PebbleOptions) -> Pebble {
        let dir = tempfile::tempdir().expect("tempdir");
        let pki = Pki::new();
        let tls = pki.leaf(&["127.0.0.1", "localhost"], -1, 30, SignedBy::Intermediate);
        let (cert, key) = pki.write_leaf("pebble-tls", &tls, true);
        let [
            port,
            mgmt_port,
            http_port,
            tls_port,
            dns_port,
            challtest_mgmt,
        ] = free_ports::<6>();
        let mut config = serde_json::json!({
            "pebble": {
                "listenAddress": format!("127.0.0.1:{port}"),
                "managementListenAddress": format!("127.0.0.1:{mgmt_port}"),
                "certificate": cert,
                "privateKey": key,
                "httpPort": http_port,
                "tlsPort": tls_port,
                "ocspResponderURL": "",
                "externalAccountBindingRequired": false
            }
        });
        if let Some((kid, hmac)) = &options.eab {
            config["pebble"]["externalAccountBindingRequired"] = true.into();
            config["pebble"]["externalAccountMACKeys"] = serde_json::json!({ kid: hmac });
        }
        let config_path = dir.path().join("pebble.json");
        std::fs::write(&config_path, config.to_string()).expect("write pebble config");
        let challtest = spawn_challtestsrv(dns_port, challtest_mgmt);
        let resolver = options
            .dns_server
            .map(|a| a.to_string())
            .unwrap_or_else(|| format!("127.0.0.1:{dns_port}"));
        let pebble = spawn_pebble(dir.path(), &config_path, &resolver, &options.env);
        let p = Pebble {
            dir,
            pki,
            pebble,
            resolver,
            env: options.env.clone(),
            challtest,
            port,
            mgmt_port,
            http_port,
            tls_port,
            challtest_mgmt,
        };
        for port in [port, mgmt_port, challtest_mgmt] {
            wait_port(port, p.dir.path());
        }
        p
    }

    pub fn directory(&self) -> String {
        format!("https://127.0.0.1:{}/dir", self.port)
    }

    /// The root of Pebble's own HTTPS listener (what certctl's `ca_file` must trust).
    pub fn tls_root(&self) -> PathBuf {
        self.pki.root_path()
    }

    /// Pebble's issuing root, fetched from its management API.
    pub fn issuer_root_pem(&self) -> String {
        let out = Command::new("curl")
            .args(["-sS", "--fail", "--cacert"])
            .arg(self.tls_root())
            .arg(format!("https://127.0.0.1:{}/roots/0", self.mgmt_port))
            .output()
            .expect("curl");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("pem")
    }

    /// Sets a TXT record in challtestsrv's DNS (what a dns-01 hook would do at a real provider).
    pub fn challtest_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.challtest_mgmt)
    }

    /// Kills Pebble (an outage); challtestsrv keeps running. Pebble keeps no state, so after
    /// [`Pebble::restart`] accounts and orders start afresh, as after a CA's data loss.
    pub fn stop(&mut self) {
        let _ = self.pebble.kill();
        let _ = self.pebble.wait();
    }

    /// Starts Pebble again on the same ports with the same TLS certificate.
    pub fn restart(&mut self) {
        self.stop();
        let config = self.dir.path().join("pebble.json");
        self.pebble = spawn_pebble(self.dir.path(), &config, &self.resolver, &self.env);
        wait_port(self.port, self.dir.path());
    }

    /// Pebble's log so far (for assertions and failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pebble.log")).unwrap_or_default()
    }
}

/// Starts pebble-challtestsrv as a DNS server on `dns_port` answering every name with
/// 127.0.0.1 (its management API on `mgmt_port` sets TXT records), with its own challenge
/// responders off: certctl answers the challenges.
pub fn spawn_challtestsrv(dns_port: u16, mgmt_port: u16) -> Child {
    Command::new("pebble-challtestsrv")
        .args(["-management", &format!("127.0.0.1:{mgmt_port}")])
        .args(["-dns01", &format!("127.0.0.1:{dns_port}")])
        .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
        .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("pebble-challtestsrv starts (apt-get install pebble)")
}

/// Starts Pebble with validation sleeps off unless `env` sets them, logging (appending) into `dir`.
fn spawn_pebble(
    dir: &std::path::Path,
    config: &std::path::Path,
    resolver: &str,
    env: &[(String, String)],
) -> Child {
    let log = |name: &str| {
        Stdio::from(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join(name))
                .expect("log"),
        )
    };
    let mut command = Command::new("pebble");
    command
        .args(["-config", config.to_str().expect("utf8")])
        .args(["-dnsserver", resolver])
        .env("PEBBLE_AUTHZREUSE", "0")
        .stdout(log("pebble.log"))
        .stderr(log("pebble.err"));
    if !env.iter().any(|(k, _)| k == "PEBBLE_VA_SLEEPTIME") {
        command.env("PEBBLE_VA_NOSLEEP", "1");
    }
    for (k, v) in env {
        command.env(k, v);
    }
    command
        .spawn()
        .expect("pebble starts (apt-get install pebble)")
}

fn wait_port(port: u16, logs: &std::path::Path) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!(
        "port {port} did not open; pebble said:\n{}{}",
        std::fs::read_to_string(logs.join("pebble.log")).unwrap_or_default(),
        std::fs::read_to_string(logs.join("pebble.err")).unwrap_or_default()
    );
}

impl Drop for Pebble {
    fn drop(&mut self) {
        for child in [&mut self.pebble, &mut self.challtest] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A dns-01 exec hook for certctl's `exec` provider that sets and clears the TXT record in
/// challtestsrv, logs each call to `dns-hook.log` and runs `prefix` (shell) first.
pub fn dns_hook_with(dir: &Path, pebble: &Pebble, prefix: &str) -> PathBuf {
    let hook = dir.join("dns-hook.sh");
    let log = dir.join("dns-hook.log");
    let script = format!(
        "#!/bin/sh\nset -e\necho \"$1 $2\" >> {log}\n{prefix}case \"$1\" in\n  present) curl -sS --fail -d \"{{\\\"host\\\":\\\"$2\\\",\\\"value\\\":\\\"$3\\\"}}\" {set} ;;\n  cleanup) curl -sS --fail -d \"{{\\\"host\\\":\\\"$2\\\"}}\" {clear} ;;\nesac\n",
        log = log.display(),
        set = pebble.challtest_url("set-txt"),
        clear = pebble.challtest_url("clear-txt"),
    );
    std::fs::write(&hook, script).expect("hook");
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    hook
}
