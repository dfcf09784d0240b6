//! Disk faults: the store, the certificate layout and a deploy target each on a small tmpfs that
//! the test fills up or remounts read-only. Each failure must be a clear error naming the path and
//! the cause, with no panic, no half-written file, and nothing already stored or installed lost.
//!
//! These tests mount file systems, so they need root (CI runs as root; `.ci/run` says so).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::pebble::{Pebble, PebbleOptions};
use common::*;

/// A tmpfs of a given size, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(dir.path())
            .output()
            .expect("mount");
        assert!(
            out.status.success(),
            "these tests mount a tmpfs and need root: {}",
            stderr(&out)
        );
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn free_kb(&self) -> u64 {
        let out = Command::new("df")
            .args(["-k", "--output=avail"])
            .arg(self.path())
            .output()
            .expect("df");
        stdout(&out)
            .lines()
            .nth(1)
            .and_then(|l| l.trim().parse().ok())
            .expect("df output")
    }

    /// Fills the file system until at most `leave_kb` are free.
    fn fill(&self, leave_kb: u64) {
        let want = self.free_kb().saturating_sub(leave_kb);
        let data = vec![0u8; (want * 1024) as usize];
        // Writing past the end fails with ENOSPC; what fits stays.
        let _ = std::fs::write(self.path().join("filler"), data);
    }

    fn unfill(&self) {
        std::fs::remove_file(self.path().join("filler")).expect("remove filler");
    }

    fn remount(&self, mode: &str) {
        let out = Command::new("mount")
            .args(["-o", &format!("remount,{mode}")])
            .arg(self.path())
            .output()
            .expect("mount");
        assert!(out.status.success(), "remount {mode}: {}", stderr(&out));
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.path()).status();
    }
}

/// Every `.tmp` file left anywhere under `dir`.
fn leftovers(dir: &Path) -> Vec<PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".tmp"))
        .collect()
}

fn assert_clean_failure(out: &Output, cause: &str, path: &Path) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains(cause), "{err}");
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

fn fingerprints(store: &Path) -> Vec<String> {
    let doc = certctl_json(store, &["list", "-o", "json"]);
    let mut out: Vec<String> = doc["locations"]
        .as_array()
        .expect("locations")
        .iter()
        .map(|l| format!("{} {}", l["target"], l["certificate"]["sha256"]))
        .collect();
    out.sort();
    out
}

#[test]
fn a_full_or_read_only_store_disk_fails_clearly_and_loses_nothing() {
    let disk = Tmpfs::mount("4m");
    let store = disk.path().join("store");
    let pki = Pki::new();
    let leaf = pki.leaf(&["www.example.test"], -1, 90, SignedBy::Intermediate);
    let (cert, _) = pki.write_leaf("first", &leaf, false);
    let out = certctl(&store, &["scan", cert.to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let before = fingerprints(&store);
    assert_eq!(before.len(), 1);

    // Full: a scan of ~300 certificates (the system trust anchors, copied out of the trust
    // store so that each counts, bundle and single files alike) cannot be recorded.
    let anchors = tempfile::tempdir().expect("tempdir");
    for entry in std::fs::read_dir("/etc/ssl/certs").expect("trust store") {
        let path = entry.expect("entry").path();
        if let (Some(name), true) = (path.file_name(), path.is_file()) {
            std::fs::copy(&path, anchors.path().join(name)).expect("copy");
        }
    }
    let anchors = anchors.path().to_str().expect("utf8").to_string();
    disk.fill(64);
    let out = certctl(&store, &["scan", &anchors]);
    assert_clean_failure(&out, "the file system is full", &store);
    disk.unfill();
    let after = fingerprints(&store);
    assert!(
        before.iter().all(|f| after.contains(f)),
        "the first record survived: {after:?}"
    );
    let out = certctl(&store, &["audit", "verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // With space again, the same scan goes through in full.
    let out = certctl(&store, &["scan", &anchors]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let full = fingerprints(&store);
    assert!(full.len() > 100, "{}", full.len());

    // Read-only: every command that opens the store says so; nothing changes.
    disk.remount("ro");
    for args in [vec!["scan", cert.to_str().expect("utf8")], vec!["list"]] {
        let out = certctl(&store, &args);
        assert_clean_failure(&out, "the file system is read-only", &store);
    }
    disk.remount("rw");
    assert_eq!(fingerprints(&store), full);
}

/// A managed certificate with versions v1 (current) and v2 made by the test PKI, and a deploy
/// target (key + fullchain) on `target`.
fn managed(dir: &Path, pki: &Pki, target: &Path) -> (PathBuf, Vec<Leaf>) {
    let output = dir.join("certs/www");
    let leaves: Vec<Leaf> = (0..2)
        .map(|i| {
            pki.leaf(
                &["127.0.0.1", "www.example.test"],
                -1,
                60 + i,
                SignedBy::Intermediate,
            )
        })
        .collect();
    for (name, leaf) in ["v1", "v2"].iter().zip(&leaves) {
        let v = output.join("versions").join(name);
        std::fs::create_dir_all(&v).expect("mkdir");
        let chain = pki.intermediate.pem();
        std::fs::write(v.join("cert.pem"), &leaf.pem).expect("cert");
        std::fs::write(v.join("chain.pem"), &chain).expect("chain");
        std::fs::write(v.join("fullchain.pem"), format!("{}{chain}", leaf.pem)).expect("full");
        std::fs::write(v.join("privkey.pem"), &leaf.key_pem).expect("key");
    }
    std::os::unix::fs::symlink("versions/v1", output.join("current")).expect("current");
    let config = write_config(
        dir,
        &format!(
            "[store]\npath = \"{d}/state/store\"\n[acme.accounts.none]\ndirectory = \"https://127.0.0.1:1/dir\"\nagree_tos = true\n[[certificate]]\nname = \"www\"\ndomains = [\"www.example.test\"]\noutput_dir = \"{o}\"\n[[certificate.deploy]]\nname = \"edge\"\nkey = \"{t}/www.key\"\nfullchain = \"{t}/www.pem\"\n",
            d = dir.display(),
            o = output.display(),
            t = target.display()
        ),
    );
    (config, leaves)
}

#[test]
fn a_deploy_onto_a_full_or_read_only_disk_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = Tmpfs::mount("256k");
    let pki = Pki::new();
    let (config, leaves) = managed(dir.path(), &pki, target.path());
    let out = certctl_config(&config, &["deploy", "www"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let read = || {
        (
            std::fs::read_to_string(target.path().join("www.key")).expect("key"),
            std::fs::read_to_string(target.path().join("www.pem")).expect("pem"),
        )
    };
    let installed = read();
    assert_eq!(installed.0, leaves[0].key_pem);

    // v2 becomes current; the target's disk has room for one staged file, not two.
    let current = dir.path().join("certs/www/current");
    std::fs::remove_file(&current).expect("unlink");
    std::os::unix::fs::symlink("versions/v2", &current).expect("current");
    target.fill(4);
    let out = certctl_config(&config, &["deploy", "www"]);
    let err = stderr(&out);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert!(err.contains(&target.path().display().to_string()), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(read(), installed, "the old key and chain are untouched");
    assert_eq!(leftovers(target.path()), Vec::<PathBuf>::new());

    target.unfill();
    target.remount("ro");
    let out = certctl_config(&config, &["deploy", "www"]);
    let err = stderr(&out);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("Read-only file system"), "{err}");
    assert_eq!(read(), installed);

    target.remount("rw");
    let out = certctl_config(&config, &["deploy", "www"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(read().0, leaves[1].key_pem, "v2 lands once there is room");
}

/// The public key of a PEM certificate or private key, via openssl.
fn public_key(path: &Path, is_cert: bool) -> String {
    let out = if is_cert {
        Command::new("openssl")
            .args(["x509", "-noout", "-pubkey", "-in"])
            .arg(path)
            .output()
    } else {
        Command::new("openssl")
            .args(["pkey", "-pubout", "-in"])
            .arg(path)
            .output()
    }
    .expect("openssl");
    assert!(out.status.success(), "{}: {}", path.display(), stderr(&out));
    stdout(&out)
}

/// `current` is complete and its key belongs to its certificate.
fn assert_current_pair(current: &Path) {
    for f in ["cert.pem", "chain.pem", "fullchain.pem", "privkey.pem"] {
        assert!(current.join(f).is_file(), "{} missing", f);
    }
    assert_eq!(
        public_key(&current.join("cert.pem"), true),
        public_key(&current.join("privkey.pem"), false),
        "key and certificate in {} do not match",
        current.display()
    );
}

#[test]
fn a_renewal_onto_a_full_disk_keeps_the_installed_pair_and_resumes_later() {
    let pebble = Pebble::start(PebbleOptions::default());
    let dir = tempfile::tempdir().expect("tempdir");
    let disk = Tmpfs::mount("512k");
    let output = disk.path().join("www");
    let config = write_config(
        dir.path(),
        &format!(
            "[store]\npath = \"{d}/state/store\"\n[acme.accounts.pebble]\ndirectory = \"{dir}\"\nagree_tos = true\nca_file = \"{ca}\"\n[[certificate]]\nname = \"www\"\ndomains = [\"www.example.test\"]\noutput_dir = \"{o}\"\n[certificate.challenge]\ntype = \"http-01\"\nlisten = \"127.0.0.1:{p}\"\n",
            d = dir.path().display(),
            dir = pebble.directory(),
            ca = pebble.tls_root().display(),
            o = output.display(),
            p = pebble.http_port
        ),
    );
    let out = certctl_config(&config, &["issue", "www"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let current = output.join("current");
    let first = std::fs::read_link(&current).expect("current");
    assert_current_pair(&current);
    let orders = || pebble.log().matches("Added order").count();
    assert_eq!(orders(), 1);

    // Room for the new key's block, not for the certificate files after it.
    disk.fill(4);
    let out = certctl_config(&config, &["renew", "www", "--force"]);
    let err = stderr(&out);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert!(err.contains(&output.display().to_string()), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(std::fs::read_link(&current).expect("current"), first);
    assert_current_pair(&current);
    assert_eq!(leftovers(disk.path()), Vec::<PathBuf>::new());

    disk.unfill();
    let out = certctl_config(&config, &["renew", "www", "--force"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_ne!(std::fs::read_link(&current).expect("current"), first);
    assert_current_pair(&current);
    // The failed attempt's order is resumed or replaced: at most one extra order for it.
    assert!(orders() <= 3, "{} orders", orders());
}
