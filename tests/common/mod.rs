//! Shared test support: a private PKI made with rcgen, real TLS servers on loopback ports, hostile
//! peers, a real nginx, and a helper to run the `certctl` binary against a temporary store.
#![allow(dead_code)]

pub mod acme_proxy;
pub mod bind;
pub mod cloud_api;
pub mod pdns;
pub mod pebble;
pub mod receiver;
pub mod servers;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::OffsetDateTime;

/// A private root and intermediate, plus a scratch directory for files.
pub struct Pki {
    pub root: CertifiedIssuer<'static, KeyPair>,
    pub intermediate: CertifiedIssuer<'static, KeyPair>,
    pub dir: tempfile::TempDir,
}

/// Who signs a leaf.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum SignedBy {
    Intermediate,
    Root,
    Itself,
}

/// A leaf certificate and its key.
pub struct Leaf {
    pub der: CertificateDer<'static>,
    pub pem: String,
    pub key_der: Vec<u8>,
    pub key_pem: String,
    pub serial_hex: String,
}

impl Pki {
    pub fn new() -> Pki {
        Pki::with_intermediate_validity(None)
    }

    /// A PKI whose intermediate is valid from `from_days` to `to_days` relative to now (rcgen's
    /// default validity when `None`).
    pub fn with_intermediate_validity(days: Option<(i64, i64)>) -> Pki {
        let mut root_params = CertificateParams::new(Vec::<String>::new()).expect("params");
        root_params
            .distinguished_name
            .push(DnType::CommonName, "certctl Test Root");
        root_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        root_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let root = CertifiedIssuer::self_signed(root_params, KeyPair::generate().expect("key"))
            .expect("root");
        let mut int_params = CertificateParams::new(Vec::<String>::new()).expect("params");
        int_params
            .distinguished_name
            .push(DnType::CommonName, "certctl Test Intermediate");
        int_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        int_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        if let Some((from, to)) = days {
            let now = OffsetDateTime::now_utc();
            int_params.not_before = now + time::Duration::days(from);
            int_params.not_after = now + time::Duration::days(to);
        }
        let intermediate =
            CertifiedIssuer::signed_by(int_params, KeyPair::generate().expect("key"), &root)
                .expect("intermediate");
        let pki = Pki {
            root,
            intermediate,
            dir: tempfile::tempdir().expect("tempdir"),
        };
        std::fs::write(pki.root_path(), pki.root.pem()).expect("write root");
        std::fs::write(pki.intermediate_path(), pki.intermediate.pem()).expect("write int");
        pki
    }

    pub fn root_path(&self) -> PathBuf {
        self.dir.path().join("root.pem")
    }

    pub fn intermediate_path(&self) -> PathBuf {
        self.dir.path().join("intermediate.pem")
    }

    /// The intermediate's private key in PEM (for signing with openssl in tests).
    pub fn intermediate_key_pem(&self) -> String {
        self.intermediate.key().serialize_pem()
    }

    /// A leaf for `names`, valid from `from_days` to `to_days` relative to now.
    pub fn leaf(&self, names: &[&str], from_days: i64, to_days: i64, by: SignedBy) -> Leaf {
        let mut params =
            CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .expect("params");
        if let Some(first) = names.first() {
            params.distinguished_name.push(DnType::CommonName, *first);
        }
        let now = OffsetDateTime::now_utc();
        params.not_before = now + time::Duration::days(from_days);
        params.not_after = now + time::Duration::days(to_days);
        let serial: [u8; 8] = rand_bytes();
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
        let key = KeyPair::generate().expect("key");
        let cert = match by {
            SignedBy::Intermediate => params.signed_by(&key, &self.intermediate),
            SignedBy::Root => params.signed_by(&key, &self.root),
            SignedBy::Itself => params.self_signed(&key),
        }
        .expect("leaf");
        Leaf {
            der: cert.der().clone(),
            pem: cert.pem(),
            key_der: key.serialize_der(),
            key_pem: key.serialize_pem(),
            serial_hex: hex_of(&serial),
        }
    }

    /// The chain a well-configured server sends: leaf then intermediate.
    pub fn full_chain(&self, leaf: &Leaf) -> Vec<CertificateDer<'static>> {
        vec![leaf.der.clone(), self.intermediate.der().clone()]
    }

    /// Writes `leaf` + intermediate and the key to files; returns (fullchain path, key path).
    pub fn write_leaf(
        &self,
        name: &str,
        leaf: &Leaf,
        with_intermediate: bool,
    ) -> (PathBuf, PathBuf) {
        let cert_path = self.dir.path().join(format!("{name}.crt"));
        let key_path = self.dir.path().join(format!("{name}.key"));
        let mut pem = leaf.pem.clone();
        if with_intermediate {
            pem.push_str(&self.intermediate.pem());
        }
        std::fs::write(&cert_path, pem).expect("write cert");
        std::fs::write(&key_path, &leaf.key_pem).expect("write key");
        (cert_path, key_path)
    }
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Random bytes from the OS, first bit cleared so the serial is a positive integer.
fn rand_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut out))
        .expect("urandom");
    out[0] &= 0x7f;
    out[0] |= 0x01;
    out
}

/// A rustls TLS server on a loopback port, stopped on drop.
pub struct TlsServer {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TlsServer {
    /// Serves `chain` on `bind` (e.g. "127.0.0.1:0" or "[::1]:0").
    pub fn start(
        bind: &str,
        chain: Vec<CertificateDer<'static>>,
        key_der: &[u8],
        tls12_only: bool,
    ) -> TlsServer {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_der.to_vec()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let versions: &[&rustls::SupportedProtocolVersion] = if tls12_only {
            &[&rustls::version::TLS12]
        } else {
            &[&rustls::version::TLS13, &rustls::version::TLS12]
        };
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("server config");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind(bind).expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                loop {
                    tokio::select! {
                        _ = &mut stopped => break,
                        accepted = listener.accept() => {
                            let Ok((tcp, _)) = accepted else { continue };
                            let acceptor = acceptor.clone();
                            tokio::spawn(async move {
                                if let Ok(mut tls) = acceptor.accept(tcp).await {
                                    let mut buf = [0u8; 1024];
                                    let _ = tokio::time::timeout(
                                        Duration::from_secs(5),
                                        tokio::io::AsyncReadExt::read(&mut tls, &mut buf),
                                    )
                                    .await;
                                }
                            });
                        }
                    }
                }
            });
        });
        TlsServer {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A peer that accepts TCP connections and never says anything.
pub fn silent_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    addr
}

/// A plain-HTTP peer: answers anything with an HTTP 400 and closes.
pub fn http_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut buf = [0u8; 2048];
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    addr
}

/// A port with nothing listening on it (bound then released).
pub fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr")
}

pub fn free_port() -> u16 {
    closed_port().port()
}

/// `n` distinct free ports (all held while choosing, so none is handed out twice).
pub fn free_ports<const N: usize>() -> [u16; N] {
    let held: Vec<TcpListener> = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind"))
        .collect();
    std::array::from_fn(|i| held[i].local_addr().expect("addr").port())
}

/// A real nginx (Debian's nginx-light) on loopback ports, killed on drop.
pub struct Nginx {
    pub dir: tempfile::TempDir,
    child: Child,
    pub ports: Vec<u16>,
}

/// One `server` block: certificate file, key file, and optional extra directives.
pub struct NginxSite {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub extra: String,
}

impl Nginx {
    pub fn start(sites: &[NginxSite]) -> Nginx {
        let mut servers = String::new();
        let mut ports = Vec::new();
        for site in sites {
            let port = free_port();
            // nginx 1.22 does not enable TLS 1.3 unless asked.
            let protocols = if site.extra.contains("ssl_protocols") {
                ""
            } else {
                "ssl_protocols TLSv1.2 TLSv1.3;"
            };
            ports.push(port);
            servers.push_str(&format!(
                "  server {{\n    listen 127.0.0.1:{port} ssl;\n    ssl_certificate {};\n    ssl_certificate_key {};\n    {protocols}\n    {}\n    return 200 \"ok\\n\";\n  }}\n",
                site.cert.display(),
                site.key.display(),
                site.extra
            ));
        }
        Nginx::start_blocks(&servers, ports)
    }

    /// nginx serving `root` over plain HTTP on 127.0.0.1:`port` (a webroot for http-01).
    pub fn start_webroot(port: u16, root: &Path) -> Nginx {
        let servers = format!(
            "  server {{\n    listen 127.0.0.1:{port};\n    root {};\n  }}\n",
            root.display()
        );
        Nginx::start_blocks(&servers, vec![port])
    }

    /// nginx with the given `server` blocks, waiting until every port in `ports` listens.
    pub fn start_blocks(servers: &str, ports: Vec<u16>) -> Nginx {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().display().to_string();
        let conf = format!(
            "worker_processes 1;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\nevents {{ worker_connections 1024; }}\nhttp {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n{servers}}}\n"
        );
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).expect("write nginx.conf");
        let child = Command::new(nginx_binary())
            .arg("-c")
            .arg(&conf_path)
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("nginx starts (apt-get install nginx-light)");
        let nginx = Nginx { dir, child, ports };
        for port in &nginx.ports {
            wait_for_port(*port, &nginx);
        }
        nginx
    }
}

fn wait_for_port(port: u16, nginx: &Nginx) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = std::fs::read_to_string(nginx.dir.path().join("error.log")).unwrap_or_default();
    panic!("nginx did not listen on {port}: {log}");
}

pub fn nginx_binary() -> &'static str {
    if Path::new("/usr/sbin/nginx").exists() {
        "/usr/sbin/nginx"
    } else {
        "nginx"
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM, not SIGKILL: the master then stops its workers too (a killed master leaves
        // its workers running, holding their ports).
        // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the certctl binary with a private store, no ambient config, and no colour.
pub fn certctl(store: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_certctl"))
        .args(args)
        .env("CERTCTL_STORE", store)
        .env_remove("CERTCTL_CONFIG")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run certctl")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts that a command exited 0, showing its output otherwise; returns the output.
pub fn ok(out: Output) -> Output {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    out
}

/// Runs the certctl binary with `--config CONFIG` (no ambient store or config, no colour).
pub fn certctl_config(config: &Path, args: &[&str]) -> Output {
    certctl_config_env(config, args, &[])
}

/// [`certctl_config`] with extra environment (e.g. `SSL_CERT_FILE` for a test API's root).
pub fn certctl_config_env(config: &Path, args: &[&str], env: &[(&str, &Path)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_certctl"))
        .args(args)
        .envs(env.iter().copied())
        .arg("--config")
        .arg(config)
        .env_remove("CERTCTL_STORE")
        .env_remove("CERTCTL_CONFIG")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run certctl")
}

/// Runs certctl and parses its `--output json` document.
pub fn certctl_json(store: &Path, args: &[&str]) -> serde_json::Value {
    let out = certctl(store, args);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "certctl {args:?} did not print JSON ({e}); exit {:?}\nstdout: {}\nstderr: {}",
            out.status.code(),
            stdout(&out),
            stderr(&out)
        )
    })
}

/// The finding codes of a JSON location object.
pub fn codes(location: &serde_json::Value) -> Vec<String> {
    location["findings"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f["code"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Writes a config file into `dir` and returns its path.
pub fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("certctl.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// Every file under `dir` (symlinked directories are not followed).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() && !path.is_symlink() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

/// The permission bits of a file.
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

/// The delivery to `webhook` in `certctl alerts list -o json`'s document.
pub fn delivery_of(listed: &serde_json::Value, webhook: &str) -> serde_json::Value {
    listed["deliveries"]
        .as_array()
        .expect("deliveries")
        .iter()
        .find(|d| d["webhook"] == webhook)
        .unwrap_or_else(|| panic!("no delivery for {webhook}: {listed:#}"))
        .clone()
}

/// The TXT values a DNS server on 127.0.0.1:`port` serves at `name`, asked with `dig`.
pub fn dig_txt(port: u16, name: &str) -> Vec<String> {
    let out = std::process::Command::new("dig")
        .args([
            "+short",
            "+norecurse",
            "-p",
            &port.to_string(),
            "@127.0.0.1",
            "TXT",
            name,
        ])
        .output()
        .expect("dig (apt-get install bind9-dnsutils)");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim_matches('"').to_string())
        .filter(|l| !l.is_empty())
        .collect()
}
