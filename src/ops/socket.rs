//! The control-socket protocol, and its client. One JSON line `{"request": {"op": "renew", ...}}`
//! goes in; one JSON line [`Reply`] comes back and the daemon closes the connection (served by
//! `daemon::socket`). A listing's rows follow its reply line as a binary body (postcard, tagged
//! with the build that wrote it, [`BODY_FORMAT`]): 100 000 rows as JSON would cost more to write
//! and parse than listing them does.

use std::io::{BufRead, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Reply, Request};

/// What a client sends.
#[derive(Debug, Serialize, Deserialize)]
pub struct Incoming {
    pub request: Request,
}

/// Connects to the daemon's control socket at `path`. `None` when no daemon answers there;
/// an error when one does but this user may not talk to it.
pub fn connect(path: &Path) -> Option<Result<std::os::unix::net::UnixStream, String>> {
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(s) => Some(Ok(s)),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Some(Err(format!(
            "permission denied on the control socket {} (ask to be added to its group)",
            path.display()
        ))),
        Err(_) => None,
    }
}

/// The binary body format of this build: client and daemon must be the same build to use it.
pub const BODY_FORMAT: &str = concat!("postcard/certctl-", env!("CARGO_PKG_VERSION"));

/// A listing's rows and records, as they travel after the reply line.
#[derive(Serialize, Deserialize)]
struct ListBody {
    rows: Vec<crate::service::RowView>,
    views: Vec<crate::service::View>,
}

/// Moves a listing's rows out of `reply` into a binary body (the daemon side); `None` for a
/// reply without one.
pub fn take_body(reply: &mut Reply) -> Option<Vec<u8>> {
    let Reply::List(list) = reply else {
        return None;
    };
    let body = ListBody {
        rows: std::mem::take(&mut list.rows),
        views: std::mem::take(&mut list.views),
    };
    list.body = Some(BODY_FORMAT.to_string());
    let bytes = postcard::to_stdvec(&body).ok();
    super::free_in_background(body);
    bytes
}

/// Puts a body read after the reply line back into the reply (the client side).
fn put_body(reply: &mut Reply, bytes: &[u8]) -> Result<(), String> {
    let Reply::List(list) = reply else {
        return Ok(());
    };
    match list.body.take() {
        None => Ok(()),
        Some(format) if format == BODY_FORMAT => {
            let body: ListBody = postcard::from_bytes(bytes)
                .map_err(|e| format!("bad listing from the daemon: {e}"))?;
            list.rows = body.rows;
            list.views = body.views;
            Ok(())
        }
        Some(format) => Err(format!(
            "the daemon sends {format}, this is {BODY_FORMAT}: restart the daemon after an upgrade"
        )),
    }
}

/// Runs `request` in the daemon answering at `path`. `None` when no daemon answers there (the
/// caller runs it locally); an error when one does but refuses us or breaks off.
pub fn call(path: &Path, request: &Request) -> Option<Result<Reply, String>> {
    let mut stream = match connect(path)? {
        Ok(s) => s,
        Err(e) => return Some(Err(e)),
    };
    let result = (|| {
        let mut line = serde_json::to_vec(&Incoming {
            request: request.clone(),
        })
        .map_err(|e| e.to_string())?;
        line.push(b'\n');
        stream.write_all(&line).map_err(|e| e.to_string())?;
        let mut reader = std::io::BufReader::with_capacity(256 * 1024, stream);
        let mut reply = Vec::new();
        reader
            .read_until(b'\n', &mut reply)
            .map_err(|e| e.to_string())?;
        if reply.last() != Some(&b'\n') {
            return Err("the daemon closed the connection without a reply".to_string());
        }
        let mut reply: Reply = serde_json::from_slice(&reply)
            .map_err(|e| format!("bad reply from the daemon: {e}"))?;
        if matches!(&reply, Reply::List(l) if l.body.is_some()) {
            let mut body = Vec::new();
            std::io::Read::read_to_end(&mut reader, &mut body)
                .map_err(|e| format!("the daemon broke off its listing: {e}"))?;
            put_body(&mut reply, &body)?;
        }
        Ok(reply)
    })();
    Some(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::{Decision, Outcome, Report};
    use crate::ops::{RenewReply, RenewRequest};

    #[test]
    fn a_listing_travels_as_a_body_of_this_build_only() {
        use crate::model::ListRow;
        use crate::service::RowView;
        let row = RowView {
            row: ListRow {
                id: "0123456789ab".into(),
                target: "a.example.test:443".into(),
                name: Some("a".into()),
                subject: Some("a.example.test".into()),
                issuer: None,
                validity: Some((1, 2)),
                codes: Vec::new(),
                chain_validity: None,
                labels: vec![("team".into(), "pay".into())],
                cert_id: Some(7),
                anchor: false,
            },
            status: crate::model::Status::Ok,
            codes: Vec::new(),
        };
        let list = |rows| {
            Reply::List(crate::ops::ListReply {
                now: 5,
                store: "/s".into(),
                empty_store: false,
                rows,
                views: Vec::new(),
                failing: Vec::new(),
                body: None,
                fleet: None,
            })
        };
        let mut reply = list(vec![row.clone(); 3]);
        let body = take_body(&mut reply).expect("a body");
        let line = serde_json::to_string(&reply).expect("encode");
        assert!(
            !line.contains("a.example.test"),
            "rows are not in the line: {line}"
        );
        let mut back: Reply = serde_json::from_str(&line).expect("decode");
        put_body(&mut back, &body).expect("same build");
        let Reply::List(back) = back else {
            panic!("a listing")
        };
        assert_eq!(back.rows.len(), 3);
        assert_eq!(back.rows[2].row.labels, row.row.labels);
        // A daemon of another build is named, not misread.
        let mut other = list(Vec::new());
        if let Reply::List(l) = &mut other {
            l.body = Some("postcard/certctl-0.0.1".into());
        }
        let err = put_body(&mut other, &body).expect_err("another build");
        assert!(err.contains("restart the daemon"), "{err}");
    }

    #[test]
    fn requests_and_replies_survive_the_wire() {
        let request = Request::Renew(RenewRequest {
            names: vec!["www".into()],
            force: true,
            dry_run: false,
            concurrency: 8,
        });
        let line = serde_json::to_string(&Incoming {
            request: request.clone(),
        })
        .expect("encode");
        let back = serde_json::from_str::<Incoming>(&line).expect("decode");
        assert_eq!(back.request, request);
        // What a certctl from before typed requests would send is refused, not misread.
        let argv = r#"{"argv":["certctl","list"]}"#;
        assert!(serde_json::from_str::<Incoming>(argv).is_err());
        let reply = Reply::Renew(RenewReply {
            reports: vec![
                Report {
                    name: "www".into(),
                    decision: Decision::RenewedMeanwhile {
                        serial: "0a".into(),
                    },
                    outcome: None,
                },
                Report {
                    name: "api".into(),
                    decision: Decision::Forced,
                    outcome: Some(Outcome::Failed {
                        error: "the CA refused".into(),
                        retryable: true,
                        failures: 2,
                    }),
                },
            ],
            warning: Some("warning: 1 alert delivery failed".into()),
        });
        let text = serde_json::to_string(&reply).expect("encode");
        let back: Reply = serde_json::from_str(&text).expect("decode");
        assert_eq!(serde_json::to_string(&back).expect("encode"), text);
    }
}
