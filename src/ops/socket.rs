//! The control-socket protocol, and its client. One JSON line `{"request": {"op": "renew", ...}}`
//! goes in; one JSON line [`Reply`] comes back and the daemon closes the connection (served by
//! `daemon::socket`).

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
        serde_json::from_slice(&reply).map_err(|e| format!("bad reply from the daemon: {e}"))
    })();
    Some(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::{Decision, Outcome, Report};
    use crate::ops::{RenewReply, RenewRequest};

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
