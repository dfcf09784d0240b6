//! The typed half of the control-socket protocol, and its client. One JSON line
//! `{"request": {"op": "renew", ...}}` goes in; one JSON line [`Reply`] comes back and the
//! daemon closes the connection. (Commands not yet typed still send `{"argv": [...]}`, answered
//! by `daemon::socket`.)

use std::io::{BufRead, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Reply, Request};

/// What a client sends.
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Incoming {
    Typed { request: Request },
    Argv { argv: Vec<String> },
}

/// What a command sent as argv runs against inside the daemon.
pub struct ArgvContext {
    pub config: std::sync::Arc<crate::config::Config>,
    pub store: crate::store::Store,
    pub status: Option<super::Status>,
}

/// The answer to a command sent as argv: its exit code, standard output and standard error.
#[derive(Debug, Serialize, Deserialize)]
pub struct ArgvReply {
    pub exit: u8,
    #[serde(skip)]
    pub stdout: Vec<u8>,
    pub stderr: String,
}

/// Runs a command sent as argv (the CLI provides it when it starts the daemon, so the daemon
/// does not depend on the CLI). Runs on a blocking thread.
pub type ArgvRunner = fn(&[String], ArgvContext) -> ArgvReply;

/// Runs `request` in the daemon answering at `path`. `None` when no daemon answers there (the
/// caller runs it locally); an error when one does but refuses us or breaks off.
pub fn call(path: &Path, request: &Request) -> Option<Result<Reply, String>> {
    let mut stream = match std::os::unix::net::UnixStream::connect(path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            return Some(Err(format!(
                "permission denied on the control socket {} (ask to be added to its group)",
                path.display()
            )));
        }
        Err(_) => return None,
    };
    let result = (|| {
        let mut line = serde_json::to_vec(&Incoming::Typed {
            request: request.clone(),
        })
        .map_err(|e| e.to_string())?;
        line.push(b'\n');
        stream.write_all(&line).map_err(|e| e.to_string())?;
        let mut reader = std::io::BufReader::new(stream);
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
        let line = serde_json::to_string(&Incoming::Typed {
            request: request.clone(),
        })
        .expect("encode");
        match serde_json::from_str::<Incoming>(&line).expect("decode") {
            Incoming::Typed { request: back } => assert_eq!(back, request),
            other => panic!("{other:?}"),
        }
        let argv = r#"{"argv":["certctl","list"]}"#;
        assert!(matches!(
            serde_json::from_str::<Incoming>(argv).expect("argv"),
            Incoming::Argv { .. }
        ));
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
