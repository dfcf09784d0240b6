//! The control socket: a Unix socket (mode 0660, optional group) through which every CLI command
//! that touches the store runs inside the daemon, against its config and open store. One JSON
//! request line `{"request": {...}}`, a typed [`crate::ops::Request`], is run by
//! [`crate::ops::execute`] on the daemon's runtime with the daemon's context (under its renewal
//! and dispatch leases), answered by one JSON [`crate::ops::Reply`] line, and drained at
//! shutdown like the daemon's own runs. The client is [`crate::ops::socket::call`].

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::watch;

use super::Shared;
use crate::ops::socket::Incoming;

/// Largest request accepted (a request, not a payload).
const MAX_REQUEST: u64 = 64 * 1024;

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
    if line.is_empty() {
        // A client that only checked that a daemon answers.
        return Ok(());
    }
    let _running = shared.socket_op();
    let reply = match serde_json::from_str::<Incoming>(&line) {
        Ok(Incoming { request }) => {
            let ctx = crate::ops::Context {
                config: shared.config(),
                store: shared.store.clone(),
                status: shared.status.lock().ok().map(|s| s.clone()),
                deliver: true,
                progress: None,
            };
            let reply = crate::ops::execute(&ctx, &request)
                .await
                .unwrap_or_else(|e| crate::ops::Reply::Failed {
                    error: e.to_string(),
                });
            (reply, request.touches_renewals())
        }
        Err(e) => (
            crate::ops::Reply::Failed {
                error: format!(
                    "bad control request (is this certctl older or newer than the daemon?): {e}"
                ),
            },
            false,
        ),
    };
    let (mut reply, touches_renewals) = reply;
    let body = crate::ops::socket::take_body(&mut reply);
    let written = write_reply(&mut write, &reply, body).await;
    // A listing of 100 000 rows is freed off the reply's path.
    crate::ops::free_in_background(reply);
    if touches_renewals {
        // A failed renewal backs off like a scheduled one: retry when its step ends.
        super::plan_next_check(&shared, &shared.config()).await;
    }
    shared.trim_when_quiet();
    written
}

/// One JSON line (and a listing's binary body), then the end of the connection.
async fn write_reply(
    write: &mut tokio::net::unix::OwnedWriteHalf,
    reply: &crate::ops::Reply,
    body: Option<Vec<u8>>,
) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(reply).map_err(std::io::Error::other)?;
    line.push(b'\n');
    write.write_all(&line).await?;
    if let Some(body) = body {
        write.write_all(&body).await?;
        crate::ops::free_in_background(body);
    }
    write.shutdown().await
}
