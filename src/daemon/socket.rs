//! The control socket: a Unix socket (mode 0660, optional group) through which every CLI command
//! runs inside the daemon, against its config and open store. One JSON request line:
//! - `{"request": {...}}`, a typed [`crate::ops::Request`]: run by [`crate::ops::execute`] on
//!   the daemon's runtime with the daemon's context, answered by one JSON [`crate::ops::Reply`]
//!   line, and drained at shutdown like the daemon's own runs;
//! - `{"argv": [...]}`, for the commands not yet typed: run by the CLI's runner, which the CLI
//!   hands to the daemon when it starts it (the daemon does not depend on the CLI); the
//!   reply is one JSON line (`{"exit": N, "stderr": "..."}`) followed by the command's standard
//!   output, raw, until the daemon closes the connection.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::watch;

use super::Shared;
use crate::ops::socket::{ArgvContext, ArgvReply, Incoming};

/// Largest request accepted (an argv, not a payload).
const MAX_REQUEST: u64 = 64 * 1024;

/// The exit code of a command that could not run (`cli::Exit::Error`).
const EXIT_ERROR: u8 = 3;

/// A command that could not run: no output.
fn failed(stderr: String) -> ArgvReply {
    ArgvReply {
        exit: EXIT_ERROR,
        stdout: Vec::new(),
        stderr,
    }
}

/// Binds the socket: removes a stale one, sets mode 0660 and the group.
pub fn bind(path: &Path, group: Option<&str>) -> std::io::Result<std::os::unix::net::UnixListener> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    if path.exists() {
        match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::AddrInUse,
                    "another certctl daemon is answering on this socket",
                ));
            }
            Err(_) => std::fs::remove_file(path)?,
        }
    }
    let listener = std::os::unix::net::UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    if let Some(group) = group {
        let gid = crate::accounts::group_id(group)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::NotFound, e.to_string()))?;
        std::os::unix::fs::chown(path, None, Some(gid))?;
    }
    listener.set_nonblocking(true)?;
    Ok(listener)
}

pub async fn serve(
    listener: std::os::unix::net::UnixListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let Ok(listener) = tokio::net::UnixListener::from_std(listener) else {
        tracing::error!("cannot use the control socket");
        return;
    };
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let shared = Arc::clone(&shared);
                tokio::spawn(async move {
                    if let Err(e) = handle(stream, shared).await {
                        tracing::warn!("control socket request failed: {e}");
                    }
                });
            }
            _ = stop.changed() => return,
        }
    }
}

async fn handle(stream: tokio::net::UnixStream, shared: Arc<Shared>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    BufReader::new(read.take(MAX_REQUEST))
        .read_line(&mut line)
        .await?;
    let reply = match serde_json::from_str::<Incoming>(&line) {
        Ok(Incoming::Typed { request }) => {
            let _running = shared.socket_op();
            let ctx = crate::ops::Context {
                config: shared.config(),
                store: shared.store.clone(),
                status: shared.status.lock().ok().map(|s| s.clone()),
                deliver: true,
            };
            let reply = crate::ops::execute(&ctx, &request)
                .await
                .unwrap_or_else(|e| crate::ops::Reply::Failed {
                    error: e.to_string(),
                });
            let mut line = serde_json::to_vec(&reply).unwrap_or_default();
            line.push(b'\n');
            let written = write.write_all(&line).await;
            let done = write.shutdown().await;
            drop(reply);
            if request.touches_renewals() {
                // A failed renewal backs off like a scheduled one: retry when its step ends.
                super::plan_next_check(&shared, &shared.config()).await;
            }
            shared.trim_when_quiet();
            return written.and(done);
        }
        Ok(Incoming::Argv { argv }) => {
            let ctx = ArgvContext {
                config: shared.config(),
                store: shared.store.clone(),
                status: shared.status.lock().ok().map(|s| s.clone()),
            };
            let runner = shared.argv_runner;
            tokio::task::spawn_blocking(move || runner(&argv, ctx))
                .await
                .unwrap_or_else(|e| {
                    failed(format!(
                        "error: the command failed inside the daemon: {e}\n"
                    ))
                })
        }
        Err(e) => failed(format!("error: bad control request: {e}\n")),
    };
    let mut head = serde_json::to_vec(&reply).unwrap_or_default();
    head.push(b'\n');
    write.write_all(&head).await?;
    write.write_all(&reply.stdout).await?;
    let done = write.shutdown().await;
    drop(reply);
    shared.trim_when_quiet();
    done
}

/// The client side: runs `argv` through the daemon at `path`, copying the command's output to
/// `out` as it arrives (a listing can be megabytes: it is not held in memory). `None` when no
/// daemon answers there (the caller runs the command locally); an error when one does but
/// refuses us. A failure to write to `out` (a closed pipe) is the reader's choice, not an error.
pub fn call(
    path: &Path,
    argv: &[String],
    out: &mut dyn Write,
) -> Option<Result<ArgvReply, String>> {
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
    let request = Incoming::Argv {
        argv: argv.to_vec(),
    };
    let result = (|| {
        let mut line = serde_json::to_vec(&request).map_err(|e| e.to_string())?;
        line.push(b'\n');
        stream.write_all(&line).map_err(|e| e.to_string())?;
        let mut reader = std::io::BufReader::with_capacity(256 * 1024, stream);
        let mut head = Vec::new();
        std::io::BufRead::read_until(&mut reader, b'\n', &mut head).map_err(|e| e.to_string())?;
        if head.last() != Some(&b'\n') {
            return Err("the daemon closed the connection without a reply".to_string());
        }
        let reply: ArgvReply =
            serde_json::from_slice(&head).map_err(|e| format!("bad reply from the daemon: {e}"))?;
        let _ = std::io::copy(&mut reader, out);
        Ok(reply)
    })();
    Some(result)
}
