//! A real BIND 9 (`named`, Debian's `bind9` package) on a loopback port, authoritative for one
//! zone that accepts TXT updates signed with a TSIG key, killed on drop. `dig` (from
//! `bind9-dnsutils`) reads the zone back, so tests check what the server really serves.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::free_port;

pub struct Bind {
    pub dir: tempfile::TempDir,
    child: Child,
    pub port: u16,
    pub zone: String,
    pub key_name: String,
    /// The TSIG secret, base64, as `tsig-keygen` prints it.
    pub secret: String,
}

impl Bind {
    /// Starts `named` serving `zone`; `key_name` may update TXT records anywhere in it.
    pub fn start(zone: &str, key_name: &str) -> Bind {
        Bind::start_with(zone, key_name, &[], "")
    }

    /// As [`Bind::start`], also primary for the (updatable) `extra_zones`, with `records`
    /// (zone file lines, e.g. a CNAME) added to `zone`.
    pub fn start_with(zone: &str, key_name: &str, extra_zones: &[&str], records: &str) -> Bind {
        use base64::Engine;
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let mut raw = [0u8; 32];
        getrandom::fill(&mut raw).expect("random TSIG secret");
        let secret = base64::engine::general_purpose::STANDARD.encode(raw);
        let d = dir.path().display();
        // With more than one zone, a CNAME from one into another must be chased as the CA's
        // resolver would: recursion on, for this machine only, and a local root zone so that
        // BIND never asks a server outside it.
        let recursion = if extra_zones.is_empty() {
            "recursion no;".to_string()
        } else {
            std::fs::write(
                dir.path().join("root.db"),
                "$TTL 60\n@ IN SOA a.root. hostmaster.root. 1 60 60 600 60\n@ IN NS a.root.\na.root. IN A 127.0.0.1\n",
            )
            .expect("root zone");
            "recursion yes;\n  allow-recursion { 127.0.0.1; };".to_string()
        };
        let mut conf = format!(
            "options {{\n  directory \"{d}\";\n  listen-on port {port} {{ 127.0.0.1; }};\n  listen-on-v6 {{ none; }};\n  pid-file \"{d}/named.pid\";\n  {recursion}\n  dnssec-validation no;\n  allow-query {{ any; }};\n}};\ncontrols {{ }};\nkey \"{key_name}\" {{ algorithm hmac-sha256; secret \"{secret}\"; }};\n"
        );
        if !extra_zones.is_empty() {
            conf.push_str(&format!(
                "zone \".\" {{ type primary; file \"{d}/root.db\"; }};\n"
            ));
        }
        for (i, z) in std::iter::once(zone)
            .chain(extra_zones.iter().copied())
            .enumerate()
        {
            conf.push_str(&format!(
                "zone \"{z}\" {{ type primary; file \"{d}/zone{i}.db\"; update-policy {{ grant {key_name} zonesub TXT; }}; }};\n"
            ));
            let extra = if i == 0 { records } else { "" };
            std::fs::write(
                dir.path().join(format!("zone{i}.db")),
                format!(
                    "$TTL 60\n@ IN SOA ns.{z}. hostmaster.{z}. 1 60 60 600 60\n@ IN NS ns.{z}.\nns IN A 127.0.0.1\n{extra}"
                ),
            )
            .expect("zone file");
        }
        std::fs::write(dir.path().join("named.conf"), conf).expect("named.conf");
        Bind::launch(dir, port, zone, key_name, secret, "running")
    }

    /// Runs `named` on `dir`'s named.conf and waits until its log shows `ready`.
    fn launch(
        dir: tempfile::TempDir,
        port: u16,
        zone: &str,
        key_name: &str,
        secret: String,
        ready: &str,
    ) -> Bind {
        let child = Command::new("named")
            .args(["-g", "-n", "1", "-c"])
            .arg(dir.path().join("named.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.path().join("named.log")).expect("log"),
            ))
            .spawn()
            .expect("named starts (apt-get install bind9)");
        let bind = Bind {
            dir,
            child,
            port,
            zone: zone.to_string(),
            key_name: key_name.to_string(),
            secret,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !bind.log().contains(ready) {
            assert!(
                Instant::now() < deadline,
                "named did not get to {ready:?}:\n{}",
                bind.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        bind
    }

    /// A zone served as the Internet serves one: a primary at 127.0.0.1:53 (updatable with the
    /// TSIG key, also on 127.0.0.1:`port` for the tests' own queries) and a secondary at
    /// [::1]:53 that transfers it, both named by the zone's NS records (BIND listens only on
    /// addresses the machine has, so the two servers are told apart by address family). With
    /// `notify` the primary tells the secondary of each change at once; without, the secondary
    /// keeps its first copy (refresh: an hour), as a lagging server does. Port 53 needs root.
    pub fn start_authorities(zone: &str, notify: bool) -> (Bind, Bind) {
        use base64::Engine;
        let mut raw = [0u8; 32];
        getrandom::fill(&mut raw).expect("random TSIG secret");
        let secret = base64::engine::general_purpose::STANDARD.encode(raw);
        let key_name = "certctl-update.";
        let options = |d: &str, listen: &str, notify: bool| {
            format!(
                "options {{\n  directory \"{d}\";\n  {listen}\n  pid-file \"{d}/named.pid\";\n  recursion no;\n  dnssec-validation no;\n  allow-query {{ any; }};\n  allow-transfer {{ any; }};\n  allow-notify {{ any; }};\n  notify {};\n}};\ncontrols {{ }};\nkey \"{key_name}\" {{ algorithm hmac-sha256; secret \"{secret}\"; }};\n",
                if notify { "yes" } else { "no" }
            )
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let d = dir.path().display().to_string();
        std::fs::write(
            dir.path().join("zone.db"),
            format!("$TTL 60\n@ IN SOA ns1.{zone}. hostmaster.{zone}. 1 3600 600 86400 60\n@ IN NS ns1.{zone}.\n@ IN NS ns2.{zone}.\nns1 IN A 127.0.0.1\nns2 IN AAAA ::1\n"),
        )
        .expect("zone file");
        let listen = format!(
            "listen-on port 53 {{ 127.0.0.1; }};\n  listen-on port {port} {{ 127.0.0.1; }};\n  listen-on-v6 {{ none; }};"
        );
        let conf = format!(
            "{}zone \"{zone}\" {{ type primary; file \"{d}/zone.db\"; update-policy {{ grant {key_name} zonesub TXT; }}; }};\n",
            options(&d, &listen, notify)
        );
        std::fs::write(dir.path().join("named.conf"), conf).expect("named.conf");
        let first = Bind::launch(dir, port, zone, key_name, secret.clone(), "running");
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let d = dir.path().display().to_string();
        let listen =
            format!("listen-on port {port} {{ 127.0.0.1; }};\n  listen-on-v6 port 53 {{ ::1; }};");
        let conf = format!(
            "{}zone \"{zone}\" {{ type secondary; file \"{d}/zone.db\"; primaries {{ 127.0.0.1; }}; }};\n",
            options(&d, &listen, false)
        );
        std::fs::write(dir.path().join("named.conf"), conf).expect("named.conf");
        let second = Bind::launch(dir, port, zone, key_name, secret, "Transfer completed");
        (first, second)
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Writes the key as `tsig-keygen` does (a BIND `key` clause), for `tsig_secret_file`.
    pub fn key_file(&self) -> PathBuf {
        let path = self.dir.path().join("certctl.key");
        std::fs::write(
            &path,
            format!(
                "key \"{}\" {{\n\talgorithm hmac-sha256;\n\tsecret \"{}\";\n}};\n",
                self.key_name, self.secret
            ),
        )
        .expect("key file");
        path
    }

    /// The TXT values served at `name`, asked with `dig`.
    pub fn txt(&self, name: &str) -> Vec<String> {
        super::dig_txt(self.port, name)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("named.log")).unwrap_or_default()
    }
}

impl Drop for Bind {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
