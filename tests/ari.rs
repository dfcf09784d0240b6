//! ACME Renewal Information (RFC 9773) and ACME profiles against a real CA that offers ARI:
//! acme-proxy (see tests/common/acme_proxy.rs). Debian's Pebble 2.4 offers neither.

mod common;

use std::path::{Path, PathBuf};

use base64::Engine as _;
use common::acme_proxy::AcmeProxy;
use common::*;

/// A certctl config with one account at the CA and one http-01 certificate.
fn setup(ca: &AcmeProxy, dir: &Path, name: &str, extra: &str) -> PathBuf {
    let text = format!(
        "[store]\npath = \"{d}/state/store\"\n\n[acme.accounts.ca]\ndirectory = \"{}\"\nagree_tos = true\ncontact = [\"mailto:ops@example.test\"]\nca_file = \"{}\"\n\n[[certificate]]\nname = \"{name}\"\ndomains = [\"{name}.example.test\"]\naccount = \"ca\"\n{extra}\n[certificate.challenge]\ntype = \"http-01\"\nlisten = \"127.0.0.1:{}\"\n",
        ca.directory(),
        ca.tls_root().display(),
        ca.http_port,
        d = dir.display(),
    );
    write_config(dir, &text)
}

fn show(config: &Path, name: &str) -> serde_json::Value {
    let out = ok(certctl_config(config, &["show", name, "-o", "json"]));
    serde_json::from_slice(&out.stdout).expect("show json")
}

fn serial(config: &Path, name: &str) -> String {
    show(config, name)["certificate"]["serial"]
        .as_str()
        .expect("serial")
        .to_string()
}

/// The CA's order that issued this serial.
fn order_for(ca: &AcmeProxy, serial: &str) -> serde_json::Value {
    ca.orders()
        .into_iter()
        .find(|o| o["certSerial"].as_str() == Some(serial))
        .unwrap_or_else(|| panic!("the CA has no order for serial {serial}"))
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

#[test]
fn the_cas_renewal_window_is_used_and_asked_for_again_only_after_retry_after() {
    let ca = AcmeProxy::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = setup(&ca, dir.path(), "www", "");
    ok(certctl_config(&config, &["issue", "www"]));
    assert_eq!(ca.events("renewal_info_requested"), 0);

    // Not due: the plan comes from the CA's window, fetched once.
    let out = ok(certctl_config(&config, &["renew", "--all", "-o", "json"]));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report[0]["decision"], "not_due", "{report}");
    let planned = report[0]["at"].as_i64().expect("at");
    assert_eq!(ca.events("renewal_info_requested"), 1);

    let doc = show(&config, "www");
    let cert = &doc["chain"][0];
    let (nb, na) = (
        cert["not_before"].as_i64().expect("not_before"),
        cert["not_after"].as_i64().expect("not_after"),
    );
    let ari = &doc["renewal"]["ari"];
    assert_eq!(ari["serial"], cert["serial"]);
    // acme-proxy suggests the span from 2/3 to 3/4 of the lifetime.
    let (start, end) = (
        ari["start"].as_i64().expect("start"),
        ari["end"].as_i64().expect("end"),
    );
    assert!((start - (nb + (na - nb) * 2 / 3)).abs() <= 1, "{ari}");
    assert!((end - (nb + (na - nb) * 3 / 4)).abs() <= 1, "{ari}");
    assert!(
        (start..=end).contains(&planned),
        "planned {planned} outside {start}..{end}"
    );
    // Retry-After (six hours) decides when to ask again.
    let next = ari["next_check"].as_i64().expect("next_check") - now();
    assert!((6 * 3600 - 60..=6 * 3600).contains(&next), "{next}");
    let table = stdout(&ok(certctl_config(&config, &["show", "www"])));
    assert!(
        table.contains("ari window:") && table.contains("asked again in 5 hours"),
        "{table}"
    );

    // Asked again within Retry-After: the stored window is used, the CA is not asked.
    let out = ok(certctl_config(&config, &["renew", "--all"]));
    assert!(stdout(&out).contains("not due until"), "{}", stdout(&out));
    assert_eq!(ca.events("renewal_info_requested"), 1);
    assert_eq!(ca.orders().len(), 1, "nothing was ordered");
}

#[test]
fn a_certificate_the_ca_revoked_is_replaced_at_once_with_replaces_and_already_replaced_is_survived()
{
    let ca = AcmeProxy::start();
    let a = tempfile::tempdir().expect("tempdir");
    let config_a = setup(&ca, a.path(), "api", "");
    ok(certctl_config(&config_a, &["issue", "api"]));
    let old = serial(&config_a, "api");

    // The CA revokes it on its own (a mis-issuance incident, a key compromise report). Its
    // lifetime is nowhere near a third left, but ARI says: now.
    ca.revoke_serial(&old);
    // A backup of the state taken now will, once restored, try to replace the same certificate.
    let state = a.path().join("state");
    let backup = a.path().join("backup");
    copy_dir(&state, &backup);

    let out = ok(certctl_config(&config_a, &["renew", "--all"]));
    assert!(
        stdout(&out).contains("due: inside the CA's renewal window (ARI)")
            && stdout(&out).contains("installed serial"),
        "{}",
        stdout(&out)
    );
    let new = serial(&config_a, "api");
    assert_ne!(new, old);
    // The new order named the certificate it replaces: base64url(AKI) "." base64url(serial).
    let order = order_for(&ca, &new);
    let replaces = order["replaces"].as_str().expect("replaces was sent");
    let serial_b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(hex::decode(&old).expect("hex serial"));
    assert!(
        replaces.ends_with(&format!(".{serial_b64}")),
        "{replaces} does not name serial {old}"
    );
    assert_eq!(ca.events("replaces_accepted"), 1);

    // Restore the backup: it asks too; the CA says that certificate was already replaced, and
    // certctl orders again without `replaces` instead of failing.
    std::fs::rename(&state, a.path().join("state.renewed")).expect("move aside");
    std::fs::rename(&backup, &state).expect("restore");
    let out = ok(certctl_config(&config_a, &["renew", "--all", "-v"]));
    assert!(
        stdout(&out).contains("installed serial"),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("the CA refused `replaces` (This certificate has already been marked as replaced by another order); ordering without it"),
        "{}",
        stderr(&out)
    );
    assert_eq!(ca.events("replaces_already_claimed"), 1);
    let restored = serial(&config_a, "api");
    assert!(order_for(&ca, &restored)["replaces"].is_null());
    let list = stdout(&ok(certctl_config(&config_a, &["show", "api"])));
    assert!(!list.contains("renewal error"), "{list}");
}

#[test]
fn certctl_revoke_reaches_the_ca_and_the_next_plain_renewal_replaces_the_certificate() {
    let ca = AcmeProxy::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = setup(&ca, dir.path(), "www", "");
    ok(certctl_config(&config, &["issue", "www"]));
    let old = serial(&config, "www");
    // The CA's window is fetched and kept for six hours.
    let out = ok(certctl_config(&config, &["renew", "--all"]));
    assert!(stdout(&out).contains("not due until"), "{}", stdout(&out));

    // A reason certctl does not know: a clear error, nothing revoked.
    let out = certctl_config(&config, &["revoke", "www", "--reason", "stolen"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("--reason: unknown reason \"stolen\""),
        "{}",
        stderr(&out)
    );
    assert!(order_for(&ca, &old)["revokedAt"].is_null());

    let out = ok(certctl_config(
        &config,
        &["revoke", "www", "--reason", "keyCompromise"],
    ));
    assert!(
        stdout(&out).contains(&format!("revoked www serial {old}")),
        "{}",
        stdout(&out)
    );
    let order = order_for(&ca, &old);
    assert!(order["revokedAt"].is_string(), "{order}");
    assert_eq!(order["revocationReason"], 1, "keyCompromise is reason 1");
    let history = stdout(&ok(certctl_config(&config, &["history"])));
    assert!(
        history.contains("certificate_revoked") && history.contains("reason keyCompromise"),
        "{history}"
    );

    // No --force needed: the stale window was dropped, the CA now says "renew now".
    let out = ok(certctl_config(&config, &["renew", "--all"]));
    assert!(
        stdout(&out).contains("due: inside the CA's renewal window (ARI)")
            && stdout(&out).contains("installed serial"),
        "{}",
        stdout(&out)
    );
    assert_ne!(serial(&config, "www"), old);
}

#[test]
fn moving_a_certificate_to_another_ca_is_not_tripped_up_by_replaces() {
    let (old_ca, new_ca) = (AcmeProxy::start(), AcmeProxy::start());
    let dir = tempfile::tempdir().expect("tempdir");
    setup(&old_ca, dir.path(), "www", "");
    ok(certctl_config(
        &dir.path().join("certctl.toml"),
        &["issue", "www"],
    ));
    let old = serial(&dir.path().join("certctl.toml"), "www");

    // The same account name now points at another CA, which never issued the current
    // certificate: its renewal info does not know it, and neither may `replaces` name it.
    let config = setup(&new_ca, dir.path(), "www", "");
    let out = ok(certctl_config(&config, &["renew", "--all"]));
    assert!(stdout(&out).contains("not due until"), "{}", stdout(&out));
    let out = ok(certctl_config(&config, &["renew", "www", "--force", "-v"]));
    assert!(
        stdout(&out).contains("installed serial"),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("refused `replaces`"),
        "{}",
        stderr(&out)
    );
    let new = serial(&config, "www");
    assert_ne!(new, old);
    assert!(order_for(&new_ca, &new)["replaces"].is_null());
    assert_eq!(old_ca.orders().len(), 1, "nothing more from the old CA");
}

#[test]
fn a_profile_the_ca_does_not_offer_is_refused_before_anything_is_ordered() {
    let ca = AcmeProxy::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = setup(&ca, dir.path(), "short", "profile = \"shortlived\"");
    let out = certctl_config(&config, &["issue", "short"]);
    assert_ne!(out.status.code(), Some(0));
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        text.contains(&format!(
            "the CA at {} does not offer the profile \"shortlived\" (it offers no profiles); change `profile` of [[certificate]] short",
            ca.directory()
        )),
        "{text}"
    );
    assert!(ca.orders().is_empty(), "nothing was ordered");
    // The failure is recorded where `list` and `show` show it.
    let shown = stderr(&ok(certctl_config(&config, &["list"])));
    assert!(
        shown.contains("renewal of short is failing (1 attempt") && shown.contains("shortlived"),
        "{shown}"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .expect("cp");
    assert!(status.success());
}
