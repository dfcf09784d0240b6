//! haproxy: `bind ... ssl crt FILE` and `crt-list FILE` lines of `frontend` and `listen`
//! sections (their addresses are the listeners to scan, a crt-list's SNI filters their names),
//! the client certificates of `server ... crt FILE` lines, all resolved against `crt-base`.
//!
//! haproxy's format is line based: a section keyword starts a section, `#` starts a comment,
//! words are split on blanks with quotes and backslash escapes as haproxy 2.x reads them.

use std::path::{Path, PathBuf};

use super::{Named, NamedEndpoint, NamedFile, reachable_host, resolve};

const MAX_FILE_SIZE: u64 = 4 * 1024 * 1024;

const SECTIONS: &[&str] = &[
    "global",
    "defaults",
    "frontend",
    "backend",
    "listen",
    "peers",
    "resolvers",
    "userlist",
    "cache",
    "program",
    "http-errors",
    "ring",
    "mailers",
    "crt-store",
    "traces",
];

/// Reads the configuration file at `path`.
pub fn read(path: &Path) -> Result<Named, String> {
    let text = read_bounded(path)?;
    let base = path.parent().unwrap_or(Path::new("/")).to_path_buf();
    let mut crt_base: Option<PathBuf> = None;
    let mut section = String::new();
    let mut named = Named::default();
    for (n, raw) in text.lines().enumerate() {
        let at = format!("{}:{}", path.display(), n + 1);
        let words = split(raw).map_err(|e| format!("{at}: {e}"))?;
        let Some(first) = words.first() else { continue };
        if SECTIONS.contains(&first.as_str()) {
            section = first.clone();
            continue;
        }
        match (section.as_str(), first.as_str()) {
            ("global", "crt-base") => {
                crt_base = words.get(1).map(|d| resolve(&base, d));
            }
            ("frontend" | "listen", "bind") => {
                let dir = crt_base.clone().unwrap_or_else(|| base.clone());
                bind(&words[1..], &dir, &at, &mut named);
            }
            ("backend" | "listen", "server" | "default-server") => {
                let dir = crt_base.clone().unwrap_or_else(|| base.clone());
                for crt in values(&words, "crt") {
                    named.files.push(file(&dir, crt, &at));
                }
            }
            _ => {}
        }
    }
    Ok(named)
}

fn read_bounded(path: &Path) -> Result<String, String> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("{shown}: cannot read: {e}"))?;
    if meta.len() > MAX_FILE_SIZE {
        return Err(format!(
            "{shown}: {} bytes, larger than the {MAX_FILE_SIZE} byte limit",
            meta.len()
        ));
    }
    std::fs::read_to_string(path).map_err(|e| format!("{shown}: cannot read: {e}"))
}

fn file(dir: &Path, crt: &str, at: &str) -> NamedFile {
    NamedFile {
        path: resolve(dir, crt),
        server: "haproxy",
        named_at: at.to_string(),
    }
}

/// The values that follow each `keyword` among `words`.
fn values<'a>(words: &'a [String], keyword: &str) -> Vec<&'a str> {
    words
        .windows(2)
        .filter(|w| w[0] == keyword)
        .map(|w| w[1].as_str())
        .collect()
}

/// One `bind` line: addresses, then options.
fn bind(words: &[String], dir: &Path, at: &str, named: &mut Named) {
    let Some(addresses) = words.first() else {
        return;
    };
    let options = &words[1..];
    let mut names: Vec<Option<String>> = Vec::new();
    let mut has_certificate = false;
    for crt in values(options, "crt") {
        named.files.push(file(dir, crt, at));
        has_certificate = true;
    }
    for list in values(options, "crt-list") {
        let list_path = resolve(dir, list);
        match read_bounded(&list_path) {
            Err(e) => named.notes.push(format!("{at}: crt-list {list}: {e}")),
            Ok(text) => {
                for (n, line) in text.lines().enumerate() {
                    let line_at = format!("{}:{}", list_path.display(), n + 1);
                    let Ok(words) = split(line) else {
                        named.notes.push(format!("{line_at}: cannot be read"));
                        continue;
                    };
                    let Some(crt) = words.first() else { continue };
                    named.files.push(file(dir, crt, &line_at));
                    has_certificate = true;
                    // After the file and an optional [ssl options] come the SNI filters.
                    let mut rest = words[1..].iter().peekable();
                    if rest.peek().is_some_and(|w| w.starts_with('[')) {
                        for w in rest.by_ref() {
                            if w.ends_with(']') {
                                break;
                            }
                        }
                    }
                    let filter = rest
                        .find(|f| !f.starts_with('!') && !f.contains('*'))
                        .cloned();
                    if let Some(name) = filter
                        && !names.contains(&Some(name.clone()))
                    {
                        names.push(Some(name));
                    }
                }
            }
        }
    }
    if !options.iter().any(|o| o == "ssl") || !has_certificate {
        return;
    }
    // The default certificate (no SNI) is served too.
    names.insert(0, None);
    for address in addresses.split(',') {
        match bind_address(address) {
            Some((host, port)) => {
                for name in &names {
                    named.endpoints.push(NamedEndpoint {
                        host: host.clone(),
                        port,
                        server_name: name.clone(),
                        starttls: None,
                        server: "haproxy",
                        named_at: at.to_string(),
                    });
                }
            }
            None => named.notes.push(format!(
                "{at}: bind {address}: not a TCP address certctl can reach"
            )),
        }
    }
}

/// A bind address: `:443`, `*:443`, `10.0.0.1:443`, `:::443`, `ipv4@...`, `ipv6@...`, a
/// port range (its first port). Unix, abstract, inherited and QUIC sockets are not reachable.
fn bind_address(text: &str) -> Option<(String, u16)> {
    let text = match text.split_once('@') {
        Some(("ipv4" | "ipv6" | "tcp" | "tcp4" | "tcp6", rest)) => rest,
        Some(_) => return None,
        None => text,
    };
    if text.starts_with('/') {
        return None;
    }
    let (host, port) = text.rsplit_once(':')?;
    let port = port.split('-').next()?.parse().ok()?;
    Some((reachable_host(host), port))
}

/// Splits a line into words as haproxy does: blanks separate, `#` starts a comment, double
/// and single quotes group, a backslash escapes the next character.
fn split(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '#' => break,
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\\' => {
                if let Some(next) = chars.next() {
                    word.push(next);
                }
                in_word = true;
            }
            '"' | '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        None => return Err(format!("unterminated {c}quote{c}")),
                        Some('\\') if c == '"' => {
                            if let Some(next) = chars.next() {
                                word.push(next);
                            }
                        }
                        Some(q) if q == c => break,
                        Some(other) => word.push(other),
                    }
                }
            }
            other => {
                word.push(other);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_addresses() {
        assert_eq!(
            split("  bind :443 ssl crt \"/etc/my certs/a.pem\" # comment").expect("split"),
            vec!["bind", ":443", "ssl", "crt", "/etc/my certs/a.pem"]
        );
        assert!(split("bind \"open").is_err());
        assert_eq!(bind_address(":443"), Some(("127.0.0.1".into(), 443)));
        assert_eq!(bind_address("*:443"), Some(("127.0.0.1".into(), 443)));
        assert_eq!(bind_address(":::443"), Some(("::1".into(), 443)));
        assert_eq!(
            bind_address("ipv4@10.0.0.1:8443-8450"),
            Some(("10.0.0.1".into(), 8443))
        );
        assert_eq!(bind_address("unix@/run/x.sock"), None);
        assert_eq!(bind_address("quic4@:443"), None);
        assert_eq!(bind_address("/run/haproxy.sock"), None);
    }

    #[test]
    fn binds_crt_lists_and_servers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::write(
            d.join("list.txt"),
            "# certificates\nwww.pem [alpn h2] www.example.test !old.example.test\napi.pem *.example.test api.example.test\n",
        )
        .expect("write");
        std::fs::write(
            d.join("haproxy.cfg"),
            format!(
                "global\n  crt-base {d}\n\ndefaults\n  mode http\n\nfrontend https\n  bind :443,127.0.0.2:8443 ssl crt default.pem crt-list {d}/list.txt\n  bind :80\n\nbackend app\n  server a 10.0.0.1:443 ssl crt client.pem verify none\n",
                d = d.display()
            ),
        )
        .expect("write");
        let named = read(&d.join("haproxy.cfg")).expect("read");
        let files: Vec<String> = named
            .files
            .iter()
            .map(|f| {
                f.path
                    .strip_prefix(d)
                    .expect("under crt-base")
                    .display()
                    .to_string()
            })
            .collect();
        assert_eq!(
            files,
            vec!["default.pem", "www.pem", "api.pem", "client.pem"]
        );
        let endpoints: Vec<(String, u16, Option<String>)> = named
            .endpoints
            .iter()
            .map(|e| (e.host.clone(), e.port, e.server_name.clone()))
            .collect();
        let www = Some("www.example.test".to_string());
        let api = Some("api.example.test".to_string());
        assert_eq!(
            endpoints,
            vec![
                ("127.0.0.1".into(), 443, None),
                ("127.0.0.1".into(), 443, www.clone()),
                ("127.0.0.1".into(), 443, api.clone()),
                ("127.0.0.2".into(), 8443, None),
                ("127.0.0.2".into(), 8443, www),
                ("127.0.0.2".into(), 8443, api),
            ]
        );
        assert!(named.files[1].named_at.ends_with("list.txt:2"));
    }
}
