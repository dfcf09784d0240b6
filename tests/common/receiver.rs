//! A real HTTP receiver for webhook tests, on a 127.0.0.1 port. It records every request and
//! answers from a programmable queue of responses (default 200), or holds connections open
//! without answering ("hang") to simulate a stuck receiver.

use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Request {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    pub at: Instant,
}

impl Request {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
}

#[derive(Default)]
struct State {
    requests: Vec<Request>,
    responses: VecDeque<(u16, Vec<(String, String)>)>,
    /// How long each request waits, after it is recorded, for its answer.
    delay: Duration,
}

pub struct Receiver {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    hang: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Receiver {
    pub fn start() -> Receiver {
        Receiver::start_on("127.0.0.1:0")
    }

    /// Binds `addr` (e.g. a port that was down before).
    pub fn start_on(addr: &str) -> Receiver {
        let listener = TcpListener::bind(addr).expect("bind receiver");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let state: Arc<Mutex<State>> = Arc::default();
        let hang = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, h, st) = (Arc::clone(&state), Arc::clone(&hang), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            while !st.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        if h.load(Ordering::SeqCst) {
                            held.push(stream);
                            continue;
                        }
                        let s = Arc::clone(&s);
                        std::thread::spawn(move || serve(stream, &s));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Receiver {
            addr,
            state,
            hang,
            stop,
            thread: Some(thread),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Queues a response for the next request (answered in order; then 200).
    pub fn respond(&self, status: u16, headers: &[(&str, &str)]) {
        let headers = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.state
            .lock()
            .expect("lock")
            .responses
            .push_back((status, headers));
    }

    /// Record each request at once, but answer it only after `delay` (a slow receiver).
    pub fn delay(&self, delay: Duration) {
        self.state.lock().expect("lock").delay = delay;
    }

    /// Accept connections but never answer them (until turned off).
    pub fn hang(&self, on: bool) {
        self.hang.store(on, Ordering::SeqCst);
    }

    pub fn requests(&self) -> Vec<Request> {
        self.state.lock().expect("lock").requests.clone()
    }

    /// Waits until at least `n` requests arrived (or `timeout` passes) and returns them all.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Request> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.requests();
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(mut stream: TcpStream, state: &Mutex<State>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let header_end = loop {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).into_owned();
    let mut lines = head.lines();
    let path = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("/")
        .to_string();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[header_end..].to_vec();
    while body.len() < length {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    let (status, extra, delay) = {
        let mut s = state.lock().expect("lock");
        s.requests.push(Request {
            path,
            headers,
            body,
            at: Instant::now(),
        });
        let (status, extra) = s.responses.pop_front().unwrap_or((200, Vec::new()));
        (status, extra, s.delay)
    };
    std::thread::sleep(delay);
    let mut response = format!("HTTP/1.1 {status} X\r\ncontent-length: 2\r\nconnection: close\r\n");
    for (k, v) in extra {
        response.push_str(&format!("{k}: {v}\r\n"));
    }
    response.push_str("\r\nok");
    let _ = stream.write_all(response.as_bytes());
}
