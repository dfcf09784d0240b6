//! A real PowerDNS Authoritative Server (Debian's `pdns-server` with `pdns-backend-sqlite3`) on
//! loopback ports: DNS on one, its HTTP API (with an API key) on another, a throwaway sqlite
//! database holding one zone. Killed on drop. `dig` reads the zone back.

use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::free_port;

pub struct PowerDns {
    pub dir: tempfile::TempDir,
    child: Child,
    pub dns_port: u16,
    pub api_port: u16,
    pub api_key: String,
}

impl PowerDns {
    /// Starts `pdns_server` authoritative for `zone`.
    pub fn start(zone: &str) -> PowerDns {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let db = d.join("pdns.sqlite3");
        let schema = "/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql";
        let status = Command::new("sqlite3")
            .arg(&db)
            .stdin(
                std::fs::File::open(schema).expect("schema (apt-get install pdns-backend-sqlite3)"),
            )
            .status()
            .expect("sqlite3 (apt-get install sqlite3)");
        assert!(status.success(), "sqlite3 schema");
        let (dns_port, api_port) = (free_port(), free_port());
        let mut raw = [0u8; 16];
        getrandom::fill(&mut raw).expect("random");
        let api_key = format!("pdns{}", hex::encode(raw));
        std::fs::write(
            d.join("pdns.conf"),
            format!(
                "launch=gsqlite3\ngsqlite3-database={db}\nlocal-address=127.0.0.1\nlocal-port={dns_port}\n\
                 api=yes\napi-key={api_key}\nwebserver=yes\nwebserver-address=127.0.0.1\n\
                 webserver-port={api_port}\nwebserver-allow-from=127.0.0.1\nsocket-dir={d}\n\
                 guardian=no\ndaemon=no\ndisable-syslog=yes\nloglevel=6\n",
                db = db.display(),
                d = d.display(),
            ),
        )
        .expect("pdns.conf");
        let config_dir = format!("--config-dir={}", d.display());
        for args in [
            vec!["create-zone", zone, &format!("ns.{zone}")],
            vec!["add-record", zone, "ns", "A", "127.0.0.1"],
        ] {
            let out = Command::new("pdnsutil")
                .arg(&config_dir)
                .args(&args)
                .output()
                .expect("pdnsutil");
            assert!(
                out.status.success(),
                "pdnsutil {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let child = Command::new("pdns_server")
            .arg(&config_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(d.join("pdns.log")).expect("log"),
            ))
            .spawn()
            .expect("pdns_server (apt-get install pdns-server)");
        let mut pdns = PowerDns {
            dir,
            child,
            dns_port,
            api_port,
            api_key,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", api_port)).is_err()
            || TcpStream::connect(("127.0.0.1", dns_port)).is_err()
        {
            let exited = pdns.child.try_wait().ok().flatten();
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "pdns_server did not start ({exited:?}): {}",
                pdns.log()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
        pdns
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.dns_port))
    }

    pub fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.api_port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pdns.log")).unwrap_or_default()
    }

    /// The TXT values served at `name`, as `dig` reads them.
    pub fn txt(&self, name: &str) -> Vec<String> {
        super::dig_txt(self.dns_port, name)
    }
}

impl Drop for PowerDns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
