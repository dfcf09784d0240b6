//! `/metrics` (Prometheus text format), `/healthz` and `/readyz`, on an optional listener
//! (127.0.0.1 unless configured otherwise). Names follow x509-certificate-exporter and
//! ssl_exporter conventions so existing dashboards and rules carry over.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::sync::watch;

use super::Shared;
use crate::model::Status as LocStatus;

pub async fn serve(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let shared = Arc::clone(&shared);
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                        let shared = Arc::clone(&shared);
                        async move { Ok::<_, Infallible>(respond(&shared, req.uri().path()).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            _ = stop.changed() => return,
        }
    }
}

async fn respond(shared: &Arc<Shared>, path: &str) -> Response<Full<Bytes>> {
    let (status, body, content_type) = match path {
        "/healthz" => (StatusCode::OK, "ok\n".to_string(), "text/plain"),
        "/readyz" => {
            let ready = shared.status.lock().map(|s| s.scans > 0).unwrap_or(false);
            if ready {
                (StatusCode::OK, "ready\n".to_string(), "text/plain")
            } else {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "first scan not finished\n".to_string(),
                    "text/plain",
                )
            }
        }
        "/metrics" => {
            let shared = Arc::clone(shared);
            let text = tokio::task::spawn_blocking(move || render(&shared))
                .await
                .unwrap_or_else(|e| Err(e.to_string()));
            match text {
                Ok(t) => (StatusCode::OK, t, "text/plain; version=0.0.4"),
                Err(e) => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("{e}\n"),
                    "text/plain",
                ),
            }
        }
        _ => (
            StatusCode::NOT_FOUND,
            "not found\n".to_string(),
            "text/plain",
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        response.headers_mut().insert("content-type", v);
    }
    response
}

/// A label value escaped for the exposition format; borrowed when there is nothing to escape
/// (almost always), so 10 000 locations do not cost 50 000 copies.
fn esc(value: &str) -> std::borrow::Cow<'_, str> {
    if value.contains(['\\', '"', '\n']) {
        value
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
            .into()
    } else {
        value.into()
    }
}

/// Appends the user's labels of a location as `label_<key>` (as kube-state-metrics does): a key
/// becomes a valid Prometheus label name (other characters turn into `_`), and a key that
/// collides with an earlier one after that is left out, since a series may not repeat a label.
fn user_labels(out: &mut String, labels: &[(String, String)]) {
    let mut seen: Vec<String> = Vec::new();
    for (key, value) in labels {
        let name: String = key
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        if seen.contains(&name) {
            continue;
        }
        let _ = write!(out, ",label_{name}=\"{}\"", esc(value));
        seen.push(name);
    }
}

/// The whole exposition, computed from the store and the daemon's counters.
pub fn render(shared: &Shared) -> Result<String, String> {
    let config = shared.config();
    let now = crate::clock::now();
    let views = crate::service::inventory(&shared.store, &config.thresholds, now)
        .map_err(|e| e.to_string())?;
    let mut out = String::with_capacity(views.len() * 400 + 4096);
    let _ = writeln!(
        out,
        "# HELP certctl_cert_not_after_seconds Expiry of the certificate seen at a location (Unix time)."
    );
    let _ = writeln!(out, "# TYPE certctl_cert_not_after_seconds gauge");
    let mut not_before = String::new();
    let mut expired = String::new();
    let mut findings = String::new();
    let mut status = String::new();
    for v in &views {
        let r = &v.record;
        let name = esc(r.name.as_deref().unwrap_or(""));
        let target = r.location.target();
        let target = esc(&target);
        // Trust anchors in a trust store are not certificates anyone renews: no expiry series
        // (their findings, at info, still show in certctl_finding).
        if let Some(leaf) = r.leaf.as_ref().filter(|_| !r.is_stored_anchor()) {
            let mut labels = format!(
                "name=\"{name}\",target=\"{target}\",subject=\"{}\",issuer=\"{}\",serial=\"{}\"",
                esc(&leaf.subject),
                esc(&leaf.issuer),
                esc(&leaf.serial)
            );
            user_labels(&mut labels, &r.labels);
            let _ = writeln!(
                not_before,
                "certctl_cert_not_before_seconds{{{labels}}} {}",
                leaf.not_before
            );
            let _ = writeln!(
                out,
                "certctl_cert_not_after_seconds{{{labels}}} {}",
                leaf.not_after
            );
            let _ = writeln!(
                expired,
                "certctl_cert_expired{{{labels}}} {}",
                i32::from(leaf.not_after <= now)
            );
        }
        for f in &v.findings {
            let _ = writeln!(
                findings,
                "certctl_finding{{name=\"{name}\",target=\"{target}\",code=\"{}\",severity=\"{}\"}} 1",
                f.code, f.severity
            );
        }
        for s in [LocStatus::Ok, LocStatus::Warning, LocStatus::Critical] {
            let _ = writeln!(
                status,
                "certctl_location_status{{name=\"{name}\",target=\"{target}\",status=\"{s}\"}} {}",
                i32::from(v.status == s)
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP certctl_cert_not_before_seconds Start of validity of the certificate seen at a location (Unix time).\n# TYPE certctl_cert_not_before_seconds gauge"
    );
    out.push_str(&not_before);
    let _ = writeln!(
        out,
        "# HELP certctl_cert_expired 1 if the certificate at a location has expired."
    );
    let _ = writeln!(out, "# TYPE certctl_cert_expired gauge");
    out.push_str(&expired);
    let _ = writeln!(
        out,
        "# HELP certctl_finding A current finding at a location."
    );
    let _ = writeln!(out, "# TYPE certctl_finding gauge");
    out.push_str(&findings);
    let _ = writeln!(
        out,
        "# HELP certctl_location_status The worst severity at a location."
    );
    let _ = writeln!(out, "# TYPE certctl_location_status gauge");
    out.push_str(&status);

    super::free_in_background(views);
    let depth = shared.store.deliveries(0).map(|(_, n)| n).unwrap_or(0);
    let s = shared.status.lock().map(|s| s.clone()).unwrap_or_default();
    let counters = [
        ("certctl_scans_total", "Scans completed.", s.scans),
        (
            "certctl_scan_errors_total",
            "Locations that could not be read during scans.",
            s.scan_errors,
        ),
    ];
    for (metric, help, value) in counters {
        let _ = writeln!(
            out,
            "# HELP {metric} {help}\n# TYPE {metric} counter\n{metric} {value}"
        );
    }
    if let Some(f) = &s.fleet {
        let _ = writeln!(
            out,
            "# HELP certctl_fleet_store_up Whether this node is joined to the fleet store and heartbeating.\n# TYPE certctl_fleet_store_up gauge\ncertctl_fleet_store_up {}",
            u8::from(f.up)
        );
    }
    let _ = writeln!(
        out,
        "# HELP certctl_renewals_total Issuance and renewal attempts by result.\n# TYPE certctl_renewals_total counter"
    );
    let _ = writeln!(
        out,
        "certctl_renewals_total{{result=\"success\"}} {}",
        s.renewals_succeeded
    );
    let _ = writeln!(
        out,
        "certctl_renewals_total{{result=\"failure\"}} {}",
        s.renewals_failed
    );
    let _ = writeln!(
        out,
        "# HELP certctl_webhook_deliveries_total Webhook delivery attempts by result.\n# TYPE certctl_webhook_deliveries_total counter"
    );
    let _ = writeln!(
        out,
        "certctl_webhook_deliveries_total{{result=\"ok\"}} {}",
        s.deliveries_ok
    );
    let _ = writeln!(
        out,
        "certctl_webhook_deliveries_total{{result=\"failed\"}} {}",
        s.deliveries_failed
    );
    let _ = writeln!(
        out,
        "# HELP certctl_outbox_depth Alert deliveries queued (pending, retrying or dead).\n# TYPE certctl_outbox_depth gauge\ncertctl_outbox_depth {depth}"
    );
    let _ = writeln!(
        out,
        "# HELP certctl_handshake_duration_seconds TLS handshake time of endpoint scans.\n# TYPE certctl_handshake_duration_seconds histogram"
    );
    for (bound, count) in &s.handshake_buckets {
        let _ = writeln!(
            out,
            "certctl_handshake_duration_seconds_bucket{{le=\"{bound}\"}} {count}"
        );
    }
    let _ = writeln!(
        out,
        "certctl_handshake_duration_seconds_bucket{{le=\"+Inf\"}} {}",
        s.handshake_count
    );
    let _ = writeln!(
        out,
        "certctl_handshake_duration_seconds_sum {}",
        s.handshake_sum_ms as f64 / 1000.0
    );
    let _ = writeln!(
        out,
        "certctl_handshake_duration_seconds_count {}",
        s.handshake_count
    );
    let _ = writeln!(
        out,
        "# HELP certctl_last_success_timestamp_seconds Last successful run of each schedule (a dead man's switch).\n# TYPE certctl_last_success_timestamp_seconds gauge"
    );
    for sched in &s.schedules {
        let _ = writeln!(
            out,
            "certctl_last_success_timestamp_seconds{{schedule=\"{}\"}} {}",
            sched.name,
            sched.last_success.unwrap_or(0)
        );
    }
    let _ = writeln!(
        out,
        "# HELP certctl_build_info The running certctl's version (always 1).\n# TYPE certctl_build_info gauge\ncertctl_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    let _ = writeln!(
        out,
        "# HELP certctl_start_time_seconds When the daemon started.\n# TYPE certctl_start_time_seconds gauge\ncertctl_start_time_seconds {}",
        s.started_at
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::{esc, user_labels};

    #[test]
    fn user_labels_become_valid_label_names_once_each() {
        let mut out = String::from("name=\"a\"");
        let labels = [
            ("team".to_string(), "pay".to_string()),
            ("app.kubernetes/io".to_string(), "x\"y".to_string()),
            ("app-kubernetes-io".to_string(), "dup".to_string()),
        ];
        user_labels(&mut out, &labels);
        assert_eq!(
            out,
            "name=\"a\",label_team=\"pay\",label_app_kubernetes_io=\"x\\\"y\""
        );
    }

    #[test]
    fn label_values_are_escaped_only_when_needed() {
        assert!(matches!(
            esc("www.example.com"),
            std::borrow::Cow::Borrowed(_)
        ));
        assert_eq!(esc("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
