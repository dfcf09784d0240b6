//! http-01: a standalone listener, or files in an existing web server's webroot.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use super::Proof;
use crate::acme::AcmeError;

const PREFIX: &str = "/.well-known/acme-challenge/";

/// certctl's own HTTP listener answering `/.well-known/acme-challenge/<token>`. One listener
/// per address serves every order in flight; it stops when the last user drops it.
pub struct Standalone {
    tokens: Arc<Mutex<HashMap<String, String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Standalone {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Standalone {
    pub async fn start(listen: SocketAddr) -> Result<Standalone, AcmeError> {
        let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
            AcmeError::Challenge(format!("cannot listen on {listen} for http-01: {e}"))
        })?;
        let tokens: Arc<Mutex<HashMap<String, String>>> = Arc::default();
        let shared = Arc::clone(&tokens);
        // Lives only as long as this order's challenges; aborted by `stop`.
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let tokens = Arc::clone(&shared);
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                        let answer = answer(&tokens, req.uri().path());
                        async move { Ok::<_, std::convert::Infallible>(answer) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Standalone { tokens, task })
    }

    pub fn present(&self, proof: &Proof) {
        if let Ok(mut tokens) = self.tokens.lock() {
            tokens.insert(proof.token.clone(), proof.key_authorization.clone());
        }
    }

    pub fn remove(&self, token: &str) {
        if let Ok(mut tokens) = self.tokens.lock() {
            tokens.remove(token);
        }
    }
}

fn answer(tokens: &Mutex<HashMap<String, String>>, path: &str) -> Response<Full<Bytes>> {
    let found = path
        .strip_prefix(PREFIX)
        .and_then(|token| tokens.lock().ok()?.get(token).cloned());
    let (status, body) = match found {
        Some(key_auth) => (StatusCode::OK, key_auth),
        None => (StatusCode::NOT_FOUND, String::new()),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
}

/// Files written under an existing web server's document root.
pub struct Webroot {
    root: PathBuf,
    written: Vec<PathBuf>,
}

impl Webroot {
    pub fn new(root: PathBuf) -> Webroot {
        Webroot {
            root,
            written: Vec::new(),
        }
    }

    pub fn present(&mut self, proof: &Proof) -> Result<(), AcmeError> {
        let dir = self.root.join(".well-known/acme-challenge");
        std::fs::create_dir_all(&dir)
            .map_err(|e| AcmeError::Challenge(format!("cannot create {}: {e}", dir.display())))?;
        let path = dir.join(&proof.token);
        // World-readable on purpose: the web server must be able to serve it.
        std::fs::write(&path, &proof.key_authorization)
            .map_err(|e| AcmeError::Challenge(format!("cannot write {}: {e}", path.display())))?;
        self.written.push(path);
        Ok(())
    }

    pub fn cleanup(self) -> Vec<String> {
        self.written
            .iter()
            .filter_map(|p| {
                std::fs::remove_file(p)
                    .err()
                    .map(|e| format!("cannot remove {}: {e}", p.display()))
            })
            .collect()
    }
}
