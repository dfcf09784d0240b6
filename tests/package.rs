//! The Debian package (cargo-deb, `packaging/build-deb`): it builds, installs on this machine,
//! creates the `certctl` user, and the installed service starts as its unit runs it (that user,
//! no capabilities, no_new_privs), scans the packaged sample config and answers the CLI through
//! its socket; then it is purged. Root only, as CI runs.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// The system state directory the package owns (and its purge removes).
const STATE: &str = "/var/lib/certctl";
/// Where a state directory that was there before the test waits meanwhile (the README's first
/// command, run as root, keeps its store in /var/lib/certctl).
const ASIDE: &str = "/var/lib/certctl.before-package-test";

/// Purges the package when the test ends, however it ends, and puts back the state directory
/// that was there before.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = Command::new("dpkg")
            .args(["--purge", "certctl"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if Path::new(ASIDE).exists() {
            let _ = std::fs::remove_dir_all(STATE);
            let _ = std::fs::rename(ASIDE, STATE);
        }
    }
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run");
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(out.status.success(), "{cmd:?}: {text}");
    text
}

fn newest_deb(dir: &Path) -> PathBuf {
    std::fs::read_dir(dir)
        .expect("target/debian")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "deb"))
        .max_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
        .expect("a .deb was built")
}

#[test]
fn the_debian_package_installs_and_starts() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    run(Command::new("bash")
        .arg(root.join("packaging/build-deb"))
        .arg(env!("CARGO_BIN_EXE_certctl"))
        .current_dir(root));
    let deb = newest_deb(&root.join("target/debian"));
    let info = run(Command::new("dpkg-deb").arg("--info").arg(&deb));
    assert!(
        info.contains("Package: certctl") && info.contains("adduser"),
        "{info}"
    );

    // A state directory from before (not the package's) waits aside until the test ends.
    if Path::new(STATE).exists() && !Path::new(ASIDE).exists() {
        std::fs::rename(STATE, ASIDE).expect("move the existing state directory aside");
    }
    let _installed = Installed;
    run(Command::new("dpkg")
        .arg("-i")
        .arg(&deb)
        .env("DEBIAN_FRONTEND", "noninteractive"));
    let version = run(Command::new("/usr/bin/certctl").arg("--version"));
    assert!(version.contains(env!("CARGO_PKG_VERSION")), "{version}");
    let user = run(Command::new("getent").args(["passwd", "certctl"]));
    assert!(user.contains("/usr/sbin/nologin"), "{user}");
    use std::os::unix::fs::MetadataExt;
    let config = std::fs::metadata("/etc/certctl/certctl.toml").expect("config installed");
    assert_eq!(config.mode() & 0o777, 0o640);
    let unit = std::fs::read_to_string("/lib/systemd/system/certctl.service")
        .or_else(|_| std::fs::read_to_string("/usr/lib/systemd/system/certctl.service"))
        .expect("unit installed");
    assert!(unit.contains("ExecStart=/usr/bin/certctl run"), "{unit}");
    for file in [
        "/usr/share/man/man1/certctl.1.gz",
        "/usr/share/bash-completion/completions/certctl",
        "/usr/share/doc/certctl/examples/polkit/50-certctl-reload-nginx.rules",
    ] {
        assert!(Path::new(file).exists(), "{file}");
    }

    // Start it as the unit would: its user and group, no capabilities, no_new_privs, the state
    // directory systemd would create (StateDirectory=certctl, 0700).
    let state = Path::new(STATE);
    std::fs::create_dir_all(state).expect("state dir");
    run(Command::new("chown").arg("certctl:certctl").arg(state));
    let uid = user.split(':').nth(2).expect("uid").to_string();
    let gid = user.split(':').nth(3).expect("gid").to_string();
    let mut daemon = Command::new("setpriv")
        .args([
            &format!("--reuid={uid}"),
            &format!("--regid={gid}"),
            "--clear-groups",
            "--no-new-privs",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--",
            "/usr/bin/certctl",
            "run",
            "--config",
            "/etc/certctl/certctl.toml",
        ])
        .env("STATE_DIRECTORY", state)
        .env_remove("CERTCTL_STORE")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the installed certctl");
    let socket = state.join("certctl.sock");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut listing = String::new();
    while Instant::now() < deadline {
        if socket.exists() {
            let out = Command::new("/usr/bin/certctl")
                .args(["--socket"])
                .arg(&socket)
                .args(["list", "-o", "csv"])
                .output()
                .expect("certctl list");
            listing = stdout(&out);
            if listing.lines().count() > 10 {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
    unsafe {
        libc::kill(daemon.id() as i32, libc::SIGTERM);
    }
    let status = daemon.wait().expect("daemon exits");
    let mut log = String::new();
    if let Some(mut err) = daemon.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut err, &mut log);
    }
    assert!(
        listing.lines().count() > 10,
        "the packaged daemon scanned the sample config and answered through its socket:\n{listing}\n{log}"
    );
    assert!(listing.contains("system-trust-store"), "{listing}");
    assert_eq!(status.code(), Some(0), "a clean stop on SIGTERM:\n{log}");
    assert!(
        log.contains("INFO"),
        "the daemon logs at info by default:\n{log}"
    );
    let store = std::fs::metadata(state.join("store")).expect("store created");
    assert_eq!(
        store.uid().to_string(),
        uid,
        "the store belongs to the service user"
    );

    run(Command::new("dpkg").args(["--purge", "certctl"]));
    assert!(!Path::new("/usr/bin/certctl").exists());
    assert!(!state.exists(), "purge removes the state");
}
