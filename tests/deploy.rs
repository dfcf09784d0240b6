//! Deploy and hot reload into real servers (nginx, haproxy, a rustls server) while a client
//! handshakes continuously: zero failed handshakes, the new serial verified, rollback on a
//! broken reload, lint refusing a mismatched key.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use certctl::inventory::target::parse_endpoint;
use common::*;

/// A managed certificate's layout with versions v1 and v2 (v1 current), made by the test PKI.
struct Managed {
    dir: tempfile::TempDir,
    pki: Pki,
    v1: Leaf,
    v2: Leaf,
}

impl Managed {
    fn new() -> Managed {
        let dir = tempfile::tempdir().expect("tempdir");
        let pki = Pki::new();
        let v1 = pki.leaf(
            &["127.0.0.1", "www.example.test"],
            -1,
            60,
            SignedBy::Intermediate,
        );
        let v2 = pki.leaf(
            &["127.0.0.1", "www.example.test"],
            -1,
            90,
            SignedBy::Intermediate,
        );
        let m = Managed { dir, pki, v1, v2 };
        m.write_version("v1", &m.v1, &m.v1.key_pem);
        m.write_version("v2", &m.v2, &m.v2.key_pem);
        m.activate("v1");
        m
    }

    fn output(&self) -> PathBuf {
        self.dir.path().join("certs/www")
    }

    fn write_version(&self, name: &str, leaf: &Leaf, key_pem: &str) {
        let v = self.output().join("versions").join(name);
        std::fs::create_dir_all(&v).expect("mkdir");
        let chain = self.pki.intermediate.pem();
        std::fs::write(v.join("cert.pem"), &leaf.pem).expect("cert");
        std::fs::write(v.join("chain.pem"), &chain).expect("chain");
        std::fs::write(v.join("fullchain.pem"), format!("{}{chain}", leaf.pem)).expect("fullchain");
        std::fs::write(v.join("privkey.pem"), key_pem).expect("key");
    }

    fn activate(&self, name: &str) {
        let current = self.output().join("current");
        let _ = std::fs::remove_file(&current);
        std::os::unix::fs::symlink(Path::new("versions").join(name), current).expect("symlink");
    }

    /// With a client handshaking continuously against `port`, makes v2 current and deploys it.
    /// Returns the deploy's output, the handshakes that succeeded and failed, and the serials
    /// seen in order.
    fn deploy_v2_under_load(&self, config: &Path, port: u16) -> (Output, u64, u64, Vec<String>) {
        let load = Load::start(format!("127.0.0.1:{port}"));
        load.wait_first();
        self.activate("v2");
        let out = self.run(config, &["deploy", "www"]);
        let (ok, failed, serials) = load.finish();
        (out, ok, failed, serials)
    }

    /// Writes a config with this certificate and one deploy target (TOML body given).
    fn config(&self, deploy: &str) -> PathBuf {
        write_config(
            self.dir.path(),
            &format!(
                "[store]\npath = \"{d}/state/store\"\n[acme.accounts.none]\ndirectory = \"https://127.0.0.1:1/dir\"\nagree_tos = true\n[[certificate]]\nname = \"www\"\ndomains = [\"www.example.test\"]\noutput_dir = \"{o}\"\n[[certificate.deploy]]\nname = \"edge\"\nverify_timeout = \"3s\"\n{deploy}\n",
                d = self.dir.path().display(),
                o = self.output().display()
            ),
        )
    }

    fn run(&self, config: &Path, args: &[&str]) -> Output {
        certctl_config(config, args)
    }
}

/// Handshakes with `addr` in a loop until stopped; counts failures and the serials seen.
struct Load {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<(u64, u64, Vec<String>)>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(addr: String) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let seen: Arc<Mutex<(u64, u64, Vec<String>)>> = Arc::default();
        let (s, st) = (Arc::clone(&seen), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("rt");
            let target = parse_endpoint(&addr, None).expect("target");
            let scanner = certctl::verify::scanner();
            // Bounded: at most 20 000 handshakes, and it stops when told.
            for _ in 0..20_000 {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                let served = rt.block_on(certctl::verify::served(&scanner, &target));
                let mut g = s.lock().expect("lock");
                match served.serial {
                    Some(serial) => {
                        g.0 += 1;
                        if g.2.last() != Some(&serial) {
                            g.2.push(serial);
                        }
                    }
                    None => g.1 += 1,
                }
            }
        });
        Load {
            stop,
            seen,
            thread: Some(thread),
        }
    }

    /// Waits until at least one handshake succeeded (so the "before" serial is observed).
    fn wait_first(&self) {
        for _ in 0..500 {
            if self.seen.lock().expect("lock").0 > 0 {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("the load never completed a handshake");
    }

    /// Stops and returns (handshakes ok, failed, distinct serials in order).
    fn finish(mut self) -> (u64, u64, Vec<String>) {
        std::thread::sleep(Duration::from_millis(300));
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().expect("load thread");
        }
        self.seen.lock().expect("lock").clone()
    }
}

fn nginx_serving(m: &Managed, files: &Path) -> Nginx {
    std::fs::create_dir_all(files).expect("mkdir");
    std::fs::write(
        files.join("www.crt"),
        format!("{}{}", m.v1.pem, m.pki.intermediate.pem()),
    )
    .expect("crt");
    std::fs::write(files.join("www.key"), &m.v1.key_pem).expect("key");
    Nginx::start(&[NginxSite {
        cert: files.join("www.crt"),
        key: files.join("www.key"),
        extra: String::new(),
    }])
}

fn nginx_deploy(files: &Path, port: u16, reload: &str) -> String {
    format!(
        "fullchain = \"{f}/www.crt\"\nkey = \"{f}/www.key\"\nreload = [{reload}]\nverify = [{{ address = \"127.0.0.1:{port}\" }}]\n",
        f = files.display()
    )
}

#[test]
fn nginx_command_reload_under_load_drops_nothing() {
    let m = Managed::new();
    let files = m.dir.path().join("nginx-certs");
    let nginx = nginx_serving(&m, &files);
    let port = nginx.ports[0];
    let conf = nginx.dir.path().join("nginx.conf");
    let config = m.config(&nginx_deploy(
        &files,
        port,
        &format!(
            "{{ type = \"command\", command = [\"{}\", \"-c\", \"{}\", \"-s\", \"reload\"] }}",
            nginx_binary(),
            conf.display()
        ),
    ));
    let (out, ok, failed, serials) = m.deploy_v2_under_load(&config, port);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        stdout(&out).contains(&format!("serial {}", m.v2.serial_hex)),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        failed, 0,
        "handshakes failed during the reload ({ok} succeeded)"
    );
    assert!(ok > 10);
    // Old workers finish gracefully while new ones start, so both may answer for a moment.
    assert_eq!(serials.first(), Some(&m.v1.serial_hex));
    assert_eq!(serials.last(), Some(&m.v2.serial_hex));
    let verify = m.run(&config, &["verify", "www"]);
    assert_eq!(verify.status.code(), Some(0), "{}", stdout(&verify));
    let history = stdout(&m.run(&config, &["history", "www"]));
    assert!(history.contains("deployed"), "{history}");
}

#[test]
fn nginx_signal_reload_under_load_drops_nothing() {
    let m = Managed::new();
    let files = m.dir.path().join("nginx-certs");
    let nginx = nginx_serving(&m, &files);
    let port = nginx.ports[0];
    let pid = nginx.dir.path().join("nginx.pid");
    let config = m.config(&nginx_deploy(
        &files,
        port,
        &format!(
            "{{ type = \"signal\", pid_file = \"{}\", signal = \"HUP\" }}",
            pid.display()
        ),
    ));
    let (out, ok, failed, serials) = m.deploy_v2_under_load(&config, port);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(
        failed, 0,
        "handshakes failed during the reload ({ok} succeeded)"
    );
    assert_eq!(serials.last(), Some(&m.v2.serial_hex));
}

/// A real haproxy serving `m`'s v1 from a combined PEM, with its admin socket (group `gid`
/// and mode 660 when given, else 600): (haproxy, combined path, port, deploy config).
fn haproxy_serving(m: &Managed, gid: Option<u32>) -> (std::process::Child, PathBuf, u16, PathBuf) {
    let dir = m.dir.path().join("haproxy");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let combined = dir.join("www.pem");
    std::fs::write(
        &combined,
        format!("{}{}{}", m.v1.pem, m.pki.intermediate.pem(), m.v1.key_pem),
    )
    .expect("pem");
    let port = free_port();
    let socket = dir.join("admin.sock");
    let conf = dir.join("haproxy.cfg");
    let access = match gid {
        Some(gid) => format!("mode 660 level admin gid {gid}"),
        None => "mode 600 level admin".to_string(),
    };
    std::fs::write(
        &conf,
        format!(
            "global\n  stats socket {s} {access}\n  log stderr local0 warning\ndefaults\n  mode http\n  timeout connect 5s\n  timeout client 5s\n  timeout server 5s\nfrontend fe\n  bind 127.0.0.1:{port} ssl crt {c}\n  http-request return status 200 content-type text/plain string ok\n",
            s = socket.display(),
            c = combined.display()
        ),
    )
    .expect("cfg");
    let haproxy = std::process::Command::new("haproxy")
        .args(["-db", "-f"])
        .arg(&conf)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("haproxy starts (apt-get install haproxy)");
    for _ in 0..200 {
        if socket.exists() && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let config = m.config(&format!(
        "combined = \"{}\"\nreload = [{{ type = \"haproxy_runtime\", socket = \"{}\" }}]\nverify = [{{ address = \"127.0.0.1:{port}\" }}]\n",
        combined.display(),
        socket.display()
    ));
    (haproxy, combined, port, config)
}

#[test]
fn haproxy_runtime_api_swaps_without_reload() {
    let m = Managed::new();
    let (mut haproxy, _, port, config) = haproxy_serving(&m, None);
    let (out, ok, failed, serials) = m.deploy_v2_under_load(&config, port);
    let _ = haproxy.kill();
    let _ = haproxy.wait();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(
        failed, 0,
        "handshakes failed during the swap ({ok} succeeded)"
    );
    assert_eq!(
        serials,
        vec![m.v1.serial_hex.clone(), m.v2.serial_hex.clone()]
    );
}

/// The recipe of config/systemd/certctl.service.d/haproxy.conf, run as the hardened unit runs
/// certctl: another user (nobody), its own group only, no capabilities, no_new_privs. It deploys
/// into a directory it owns and swaps the certificate over haproxy's group-writable admin
/// socket: served, verified, and without a single failed handshake.
#[test]
fn the_haproxy_recipe_works_without_privileges() {
    const UID: u32 = 65_534;
    const GID: u32 = 64_999;
    let m = Managed::new();
    // The admin socket is writable by the service user's group (the recipe's `group certctl`).
    let (mut haproxy, combined, port, config) = haproxy_serving(&m, Some(GID));
    // The service user owns its state, its layout and the deploy directory (the recipe's
    // `install -d -o certctl`), nothing else.
    let chown = std::process::Command::new("chown")
        .args(["-R", &format!("{UID}:{GID}")])
        .arg(m.dir.path())
        .status()
        .expect("chown");
    assert!(chown.success());
    // ...but not haproxy's socket: root's, writable through the group only, as in the recipe.
    let socket = m.dir.path().join("haproxy/admin.sock");
    std::os::unix::fs::chown(&socket, Some(0), Some(GID)).expect("socket owner");
    let load = Load::start(format!("127.0.0.1:{port}"));
    load.wait_first();
    m.activate("v2");
    let out = std::process::Command::new("setpriv")
        .args([
            &format!("--reuid={UID}"),
            &format!("--regid={GID}"),
            "--clear-groups",
            "--no-new-privs",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--",
            env!("CARGO_BIN_EXE_certctl"),
            "deploy",
            "www",
            "--config",
        ])
        .arg(&config)
        .env_remove("CERTCTL_STORE")
        .env_remove("CERTCTL_CONFIG")
        .env("HOME", m.dir.path())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("setpriv (util-linux)");
    let (ok, failed, serials) = load.finish();
    let _ = haproxy.kill();
    let _ = haproxy.wait();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(failed, 0, "handshakes failed ({ok} succeeded)");
    assert_eq!(
        serials,
        vec![m.v1.serial_hex.clone(), m.v2.serial_hex.clone()]
    );
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(&combined).expect("installed");
    assert_eq!(
        (meta.uid(), meta.mode() & 0o777),
        (UID, 0o600),
        "owned by the service user, private"
    );
}

/// An account that only NSS knows (a systemd userdb drop-in record, resolved by nss-systemd;
/// the same path LDAP and SSSD accounts take), removed again on drop.
struct NssOnlyAccount {
    files: Vec<PathBuf>,
}

impl NssOnlyAccount {
    fn create(name: &str, id: u32) -> NssOnlyAccount {
        let dir = Path::new("/run/userdb");
        std::fs::create_dir_all(dir).expect("/run/userdb (run the tests as root)");
        let user =
            format!(r#"{{"userName":"{name}","uid":{id},"gid":{id},"disposition":"regular"}}"#);
        let group = format!(r#"{{"groupName":"{name}","gid":{id}}}"#);
        let mut files = Vec::new();
        for (ext, body) in [("user", user), ("group", group)] {
            let by_name = dir.join(format!("{name}.{ext}"));
            let by_id = dir.join(format!("{id}.{ext}"));
            std::fs::write(&by_name, body).expect("userdb record");
            let _ = std::fs::remove_file(&by_id);
            std::os::unix::fs::symlink(&by_name, &by_id).expect("userdb link");
            files.extend([by_name, by_id]);
        }
        NssOnlyAccount { files }
    }
}

impl Drop for NssOnlyAccount {
    fn drop(&mut self) {
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
    }
}

#[test]
fn deploy_owners_resolve_through_nss() {
    const NAME: &str = "certctl-nss-test";
    const ID: u32 = 64_123;
    let _account = NssOnlyAccount::create(NAME, ID);
    let passwd = std::fs::read_to_string("/etc/passwd").expect("passwd");
    assert!(
        !passwd.contains(NAME),
        "the account must not be in /etc/passwd"
    );
    let m = Managed::new();
    let target = m.dir.path().join("target");
    std::fs::create_dir_all(&target).expect("mkdir");
    let config = m.config(&format!(
        "fullchain = \"{t}/www.pem\"\nkey = \"{t}/www.key\"\nowner = \"{NAME}\"\ngroup = \"{NAME}\"\n",
        t = target.display()
    ));
    let out = m.run(&config, &["deploy", "www"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    use std::os::unix::fs::MetadataExt;
    for file in ["www.pem", "www.key"] {
        let meta = std::fs::metadata(target.join(file)).expect("installed");
        assert_eq!((meta.uid(), meta.gid()), (ID, ID), "{file}");
    }
    // A name NSS does not know is refused with a clear message, before anything is written.
    let config = m.config(&format!(
        "fullchain = \"{t}/other.pem\"\nkey = \"{t}/other.key\"\nowner = \"certctl-no-such-user\"\n",
        t = target.display()
    ));
    let out = m.run(&config, &["deploy", "www"]);
    assert_ne!(out.status.code(), Some(0));
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        said.contains("no user named \"certctl-no-such-user\""),
        "{said}"
    );
    assert!(!target.join("other.pem").exists());
}

#[test]
fn a_broken_reload_rolls_back_and_alerts() {
    let m = Managed::new();
    let files = m.dir.path().join("nginx-certs");
    let nginx = nginx_serving(&m, &files);
    let port = nginx.ports[0];
    let before = std::fs::read(files.join("www.crt")).expect("crt");
    // A reload that fails.
    let config = m.config(&nginx_deploy(
        &files,
        port,
        "{ type = \"command\", command = [\"false\"] }",
    ));
    m.activate("v2");
    let out = m.run(&config, &["deploy", "www"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("DEPLOY_FAILED") && stdout(&out).contains("rolled back"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        std::fs::read(files.join("www.crt")).expect("crt"),
        before,
        "old files restored"
    );
    // A server that ignores the reload: verification fails, the old files come back.
    let config = m.config(&nginx_deploy(
        &files,
        port,
        "{ type = \"command\", command = [\"true\"] }",
    ));
    let out = m.run(&config, &["deploy", "www"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("VERIFICATION_FAILED"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains(&m.v1.serial_hex), "{}", stdout(&out));
    assert_eq!(std::fs::read(files.join("www.crt")).expect("crt"), before);
    let served = m.run(&config, &["verify", "www"]);
    assert_eq!(
        served.status.code(),
        Some(2),
        "nginx still serves v1: {}",
        stdout(&served)
    );
    // The failures are alert events.
    let alerts: serde_json::Value =
        serde_json::from_slice(&m.run(&config, &["alerts", "list", "-o", "json"]).stdout)
            .expect("json");
    let _ = alerts;
    let history = stdout(&m.run(&config, &["history", "www"]));
    assert!(history.contains("deploy_rolled_back"), "{history}");
}

#[test]
fn a_key_that_does_not_match_is_refused_before_anything_is_touched() {
    let m = Managed::new();
    let files = m.dir.path().join("nginx-certs");
    let nginx = nginx_serving(&m, &files);
    let port = nginx.ports[0];
    m.write_version("bad", &m.v2, &m.v1.key_pem);
    m.activate("bad");
    let before = std::fs::read(files.join("www.key")).expect("key");
    let config = m.config(&nginx_deploy(
        &files,
        port,
        "{ type = \"command\", command = [\"true\"] }",
    ));
    let out = m.run(&config, &["deploy", "www"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stdout(&out).contains("does not match the certificate"),
        "{}",
        stdout(&out)
    );
    assert_eq!(std::fs::read(files.join("www.key")).expect("key"), before);
}

#[test]
fn rustls_resolver_swaps_atomically_under_load() {
    let m = Managed::new();
    let cert = m.dir.path().join("live.crt");
    let key = m.dir.path().join("live.key");
    std::fs::write(&cert, format!("{}{}", m.v1.pem, m.pki.intermediate.pem())).expect("crt");
    std::fs::write(&key, &m.v1.key_pem).expect("key");
    let resolver = certctl::reload::CertResolver::new(&cert, &key).expect("resolver");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_cert_resolver(resolver.clone());
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("rt");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let _ = acceptor.accept(tcp).await;
                });
            }
        });
    });
    let load = Load::start(addr.to_string());
    load.wait_first();
    // A half-written pair (new certificate, old key) is refused and the old pair stays.
    std::fs::write(&cert, format!("{}{}", m.v2.pem, m.pki.intermediate.pem())).expect("crt");
    assert!(
        resolver.reload().is_err(),
        "a mismatched pair must not be loaded"
    );
    std::fs::write(&key, &m.v2.key_pem).expect("key");
    let started = std::time::Instant::now();
    resolver.reload().expect("reload");
    let (ok, failed, serials) = load.finish();
    assert_eq!(failed, 0, "{ok} ok");
    assert_eq!(
        serials,
        vec![m.v1.serial_hex.clone(), m.v2.serial_hex.clone()]
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// The example server binary (built with the tests; built here if not).
fn example_server() -> PathBuf {
    let exe = std::env::current_exe().expect("exe");
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir")
        .join("examples/rustls_server");
    if !path.exists() {
        let status = std::process::Command::new(env!("CARGO"))
            .args(["build", "--example", "rustls_server"])
            .status()
            .expect("cargo build --example");
        assert!(status.success());
    }
    path
}

#[test]
fn example_rustls_server_picks_up_a_deploy_by_itself() {
    let m = Managed::new();
    let live = m.dir.path().join("live");
    std::fs::create_dir_all(&live).expect("mkdir");
    std::fs::write(
        live.join("fullchain.pem"),
        format!("{}{}", m.v1.pem, m.pki.intermediate.pem()),
    )
    .expect("crt");
    std::fs::write(live.join("privkey.pem"), &m.v1.key_pem).expect("key");
    let port = free_port();
    let mut server = std::process::Command::new(example_server())
        .arg(format!("127.0.0.1:{port}"))
        .arg(live.join("fullchain.pem"))
        .arg(live.join("privkey.pem"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("example server");
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    // No reload action: the server's CertResolver watches the files.
    let config = m.config(&format!(
        "fullchain = \"{l}/fullchain.pem\"\nkey = \"{l}/privkey.pem\"\nverify = [{{ address = \"127.0.0.1:{port}\" }}]\n",
        l = live.display()
    ));
    let (out, ok, failed, serials) = m.deploy_v2_under_load(&config, port);
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(failed, 0, "{ok} ok");
    assert_eq!(
        serials,
        vec![m.v1.serial_hex.clone(), m.v2.serial_hex.clone()]
    );
}

#[test]
fn a_server_that_was_never_reloaded_is_stale_served() {
    let m = Managed::new();
    let files = m.dir.path().join("nginx-certs");
    let nginx = nginx_serving(&m, &files);
    let port = nginx.ports[0];
    m.activate("v2"); // installed, but nobody deployed or reloaded it
    let mut config_text =
        std::fs::read_to_string(m.config(&nginx_deploy(&files, port, ""))).expect("config");
    config_text.push_str(&format!(
        "\n[scan]\nca_files = [\"{}\"]\n[[endpoint]]\naddress = \"127.0.0.1:{port}\"\n",
        m.pki.root_path().display()
    ));
    let config = write_config(m.dir.path(), &config_text);
    let out = m.run(&config, &["scan", "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let endpoint = doc["locations"]
        .as_array()
        .expect("locations")
        .iter()
        .find(|l| l["kind"] == "endpoint")
        .cloned()
        .expect("endpoint");
    assert_eq!(codes(&endpoint), vec!["stale_served"], "{endpoint:#}");
    // After a deploy with a reload, it is current again.
    let reload = format!(
        "{{ type = \"signal\", pid_file = \"{}\" }}",
        nginx.dir.path().join("nginx.pid").display()
    );
    let config2 = write_config(
        m.dir.path(),
        &config_text.replace("reload = []", &format!("reload = [{reload}]")),
    );
    assert_eq!(m.run(&config2, &["deploy", "www"]).status.code(), Some(0));
    let doc: serde_json::Value =
        serde_json::from_slice(&m.run(&config2, &["scan", "-o", "json"]).stdout).expect("json");
    let endpoint = doc["locations"]
        .as_array()
        .expect("locations")
        .iter()
        .find(|l| l["kind"] == "endpoint")
        .cloned()
        .expect("endpoint");
    assert_eq!(codes(&endpoint), Vec::<String>::new(), "{endpoint:#}");
}

#[test]
fn the_whole_loop_against_pebble_issue_deploy_verify_renew() {
    use common::pebble::{Pebble, PebbleOptions};
    let pebble = Pebble::start(PebbleOptions::default());
    let m = Managed::new();
    let files = m.dir.path().join("nginx-certs");
    let nginx = nginx_serving(&m, &files);
    let port = nginx.ports[0];
    let conf = nginx.dir.path().join("nginx.conf");
    let config = write_config(
        m.dir.path(),
        &format!(
            "[store]\npath = \"{d}/state/store\"\n[acme.accounts.pebble]\ndirectory = \"{dir}\"\nagree_tos = true\nca_file = \"{ca}\"\n[[certificate]]\nname = \"www\"\ndomains = [\"www.example.test\"]\n[certificate.challenge]\nlisten = \"127.0.0.1:{http}\"\n[[certificate.deploy]]\nname = \"nginx\"\n{deploy}",
            d = m.dir.path().display(),
            dir = pebble.directory(),
            ca = pebble.tls_root().display(),
            http = pebble.http_port,
            deploy = nginx_deploy(
                &files,
                port,
                &format!(
                    "{{ type = \"command\", command = [\"{}\", \"-c\", \"{}\", \"-s\", \"reload\"] }}",
                    nginx_binary(),
                    conf.display()
                )
            ),
        ),
    );
    let out = m.run(&config, &["issue", "www", "-o", "json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let first: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let serial1 = first[0]["serial"].as_str().expect("serial").to_string();
    assert_eq!(first[0]["deploy_errors"], serde_json::json!([]));
    let verify = m.run(&config, &["verify", "www"]);
    assert!(stdout(&verify).contains(&serial1), "{}", stdout(&verify));

    let load = Load::start(format!("127.0.0.1:{port}"));
    load.wait_first();
    let out = m.run(&config, &["renew", "www", "--force", "-o", "json"]);
    let (ok, failed, serials) = load.finish();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let second: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let serial2 = second[0]["serial"].as_str().expect("serial").to_string();
    assert_ne!(serial1, serial2);
    assert_eq!(failed, 0, "{ok} ok");
    assert_eq!(serials.last(), Some(&serial2));
}
