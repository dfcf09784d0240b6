//! nginx: the `server` blocks of `nginx.conf` and every file it includes, for the certificate
//! files (`ssl_certificate`, inherited from `http` or `stream`) and the TLS listeners (`listen
//! ... ssl`, with the block's first `server_name` as SNI).
//!
//! The configuration is tokenised as nginx does (quotes, escapes, `#` comments, `${var}`),
//! `include` globs are resolved against the directory of the main file as nginx resolves them,
//! and the walk is bounded (include depth, file count and size), so a loop of includes or a huge
//! file is a clear error, not a hang.

use std::path::{Path, PathBuf};

use super::{Named, NamedEndpoint, NamedFile, reachable_host, resolve};

/// One directive: its name, arguments, where it is, and its block if it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Directive {
    name: String,
    args: Vec<String>,
    at: String,
    block: Option<Vec<Directive>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Semicolon,
    Open,
    Close,
}

/// Reads `main` and what it includes.
pub fn read(main: &Path) -> Result<Named, String> {
    let base = main.parent().unwrap_or(Path::new("/")).to_path_buf();
    let mut reader = Reader {
        base,
        files: 0,
        notes: Vec::new(),
    };
    let top = reader.file(main, 0)?;
    let mut named = Named {
        notes: std::mem::take(&mut reader.notes),
        ..Named::default()
    };
    let walker = Walker { base: &reader.base };
    for d in &top {
        if let Some(block) = &d.block {
            match d.name.as_str() {
                "http" => walker.context(block, true, &mut named),
                "stream" => walker.context(block, false, &mut named),
                "mail" => {
                    named.notes.push(format!(
                        "{}: the mail block's listeners are not scanned (its certificates are)",
                        d.at
                    ));
                    walker.certificates(block, &mut named);
                    for server in block.iter().filter(|s| s.name == "server") {
                        if let Some(body) = &server.block {
                            walker.certificates(body, &mut named);
                        }
                    }
                }
                _ => {}
            }
        }
    }
    Ok(named)
}

struct Reader {
    base: PathBuf,
    files: usize,
    notes: Vec<String>,
}

impl Reader {
    fn file(&mut self, path: &Path, depth: usize) -> Result<Vec<Directive>, String> {
        let text = super::read_included(path, depth, &mut self.files)?;
        let shown = path.display();
        let tokens = tokenize(&text).map_err(|(line, e)| format!("{shown}:{line}: {e}"))?;
        let mut i = 0;
        let directives = self.block(&tokens, &mut i, path, depth, false)?;
        Ok(directives)
    }

    /// Parses directives until the end of the file or (when `nested`) the closing brace.
    fn block(
        &mut self,
        tokens: &[(Token, usize)],
        i: &mut usize,
        path: &Path,
        depth: usize,
        nested: bool,
    ) -> Result<Vec<Directive>, String> {
        let shown = path.display();
        let mut out = Vec::new();
        loop {
            let Some((token, line)) = tokens.get(*i) else {
                if nested {
                    return Err(format!("{shown}: unexpected end of file, expecting \"}}\""));
                }
                return Ok(out);
            };
            *i += 1;
            let name = match token {
                Token::Close if nested => return Ok(out),
                Token::Close => return Err(format!("{shown}:{line}: unexpected \"}}\"")),
                Token::Semicolon => continue,
                Token::Open => return Err(format!("{shown}:{line}: unexpected \"{{\"")),
                Token::Word(w) => w.clone(),
            };
            let at = format!("{shown}:{line}");
            let mut args = Vec::new();
            let block = loop {
                match tokens.get(*i) {
                    None => {
                        return Err(format!(
                            "{at}: directive \"{name}\" is not terminated by \";\""
                        ));
                    }
                    Some((Token::Word(w), _)) => {
                        args.push(w.clone());
                        *i += 1;
                    }
                    Some((Token::Semicolon, _)) => {
                        *i += 1;
                        break None;
                    }
                    Some((Token::Open, _)) => {
                        *i += 1;
                        break Some(self.block(tokens, i, path, depth, true)?);
                    }
                    Some((Token::Close, l)) => {
                        return Err(format!("{shown}:{l}: unexpected \"}}\""));
                    }
                }
            };
            if name == "include" && block.is_none() {
                match args.as_slice() {
                    [pattern] => out.extend(self.include(pattern, &at, depth)?),
                    _ => return Err(format!("{at}: include takes one argument")),
                }
                continue;
            }
            out.push(Directive {
                name,
                args,
                at,
                block,
            });
        }
    }

    fn include(&mut self, pattern: &str, at: &str, depth: usize) -> Result<Vec<Directive>, String> {
        let full = resolve(&self.base, pattern);
        let text = full.display().to_string();
        let mut out = Vec::new();
        if text.contains(['*', '?', '[']) {
            let paths =
                super::glob_files(&text).map_err(|e| format!("{at}: include {pattern}: {e}"))?;
            for p in paths {
                out.extend(self.file(&p, depth + 1)?);
            }
        } else if full.exists() {
            out.extend(self.file(&full, depth + 1)?);
        } else {
            self.notes.push(format!(
                "{at}: include {pattern}: no such file (nginx would not start)"
            ));
        }
        Ok(out)
    }
}

/// Splits nginx configuration text into tokens with their line numbers.
fn tokenize(text: &str) -> Result<Vec<(Token, usize)>, (usize, String)> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    while let Some(c) = chars.next() {
        match c {
            '\n' => line += 1,
            c if c.is_whitespace() => {}
            '#' => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        line += 1;
                        break;
                    }
                }
            }
            ';' => out.push((Token::Semicolon, line)),
            '{' => out.push((Token::Open, line)),
            '}' => out.push((Token::Close, line)),
            '"' | '\'' => {
                let start = line;
                let mut word = String::new();
                loop {
                    match chars.next() {
                        None => return Err((start, format!("unterminated {c}quoted{c} string"))),
                        Some('\\') => match chars.next() {
                            Some('n') => word.push('\n'),
                            Some('t') => word.push('\t'),
                            Some('r') => word.push('\r'),
                            Some(other) => {
                                if other == '\n' {
                                    line += 1;
                                }
                                if other != c && other != '\\' {
                                    word.push('\\');
                                }
                                word.push(other);
                            }
                            None => return Err((start, "unterminated string".into())),
                        },
                        Some(q) if q == c => break,
                        Some(other) => {
                            if other == '\n' {
                                line += 1;
                            }
                            word.push(other);
                        }
                    }
                }
                out.push((Token::Word(word), start));
            }
            first => {
                let mut word = String::from(first);
                while let Some(&next) = chars.peek() {
                    if next == '{' && word.ends_with('$') {
                        // `${var}` inside a word is a variable, not a block.
                        for c in chars.by_ref() {
                            word.push(c);
                            if c == '}' {
                                break;
                            }
                        }
                        continue;
                    }
                    if next.is_whitespace() || matches!(next, ';' | '{' | '}') {
                        break;
                    }
                    if next == '\\' {
                        chars.next();
                        if let Some(escaped) = chars.next() {
                            word.push(escaped);
                        }
                        continue;
                    }
                    word.push(next);
                    chars.next();
                }
                out.push((Token::Word(word), line));
            }
        }
    }
    Ok(out)
}

struct Walker<'a> {
    base: &'a Path,
}

impl Walker<'_> {
    /// An `http` (with server names) or `stream` context.
    fn context(&self, block: &[Directive], http: bool, named: &mut Named) {
        let inherited = self.certificates(block, named);
        let ssl_on = ssl_on_here(block);
        for server in block
            .iter()
            .filter(|d| d.name == "server")
            .filter_map(|d| d.block.as_ref().map(|b| (d, b)))
        {
            let (d, body) = server;
            let own = self.certificates(body, named);
            let has_certificate = !own.is_empty() || !inherited.is_empty();
            let server_name = if http { first_name(body) } else { None };
            let ssl_everywhere = ssl_on || ssl_on_here(body);
            for listen in body.iter().filter(|l| l.name == "listen") {
                let Some(address) = listen.args.first() else {
                    continue;
                };
                let flags = &listen.args[1..];
                if flags.iter().any(|f| f == "quic") {
                    continue;
                }
                let tls = ssl_everywhere || flags.iter().any(|f| f == "ssl");
                if !tls {
                    continue;
                }
                if !has_certificate {
                    named.notes.push(format!(
                        "{}: listen {address} ssl, but the server block at {} has no ssl_certificate",
                        listen.at, d.at
                    ));
                    continue;
                }
                match listen_address(address) {
                    Some((host, port)) => named.endpoints.push(NamedEndpoint {
                        host,
                        port,
                        server_name: server_name.clone(),
                        starttls: None,
                        server: "nginx",
                        named_at: listen.at.clone(),
                    }),
                    None => named.notes.push(format!(
                        "{}: listen {address}: not a TCP address certctl can reach",
                        listen.at
                    )),
                }
            }
        }
    }

    /// The `ssl_certificate` files named directly in `block` (recorded in `named`).
    fn certificates(&self, block: &[Directive], named: &mut Named) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for d in block.iter().filter(|d| d.name == "ssl_certificate") {
            let Some(path) = d.args.first() else { continue };
            if path.contains('$') || path.starts_with("data:") {
                named.notes.push(format!(
                    "{}: ssl_certificate {path} is computed per request; not followed",
                    d.at
                ));
                continue;
            }
            let full = resolve(self.base, path);
            named.files.push(NamedFile {
                path: full.clone(),
                server: "nginx",
                named_at: d.at.clone(),
            });
            out.push(full);
        }
        out
    }
}

/// The obsolete `ssl on;`: every listener of the block is TLS.
fn ssl_on_here(block: &[Directive]) -> bool {
    block
        .iter()
        .any(|d| d.name == "ssl" && d.args.first().is_some_and(|a| a == "on"))
}

/// The block's first name that can be sent as SNI: not `_`, a wildcard or a regex.
fn first_name(block: &[Directive]) -> Option<String> {
    block
        .iter()
        .filter(|d| d.name == "server_name")
        .flat_map(|d| d.args.iter())
        .find(|n| {
            !n.is_empty()
                && *n != "_"
                && !n.starts_with('~')
                && !n.contains('*')
                && !n.starts_with('$')
                && n.contains('.')
        })
        .map(|n| n.trim_end_matches('.').to_string())
        .filter(|n| !n.is_empty())
}

/// A `listen` address: `443`, `*:443`, `10.0.0.1:443`, `[::]:443`, `host:443`, `10.0.0.1`
/// (port 80); `unix:` sockets are not reachable.
fn listen_address(text: &str) -> Option<(String, u16)> {
    if text.starts_with("unix:") {
        return None;
    }
    if let Ok(port) = text.parse::<u16>() {
        return Some(("127.0.0.1".into(), port));
    }
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if after.is_empty() => 80,
            None => return None,
        };
        (host.to_string(), port)
    } else if let Some((host, port)) = text.rsplit_once(':') {
        (host.to_string(), port.parse().ok()?)
    } else {
        (text.to_string(), 80)
    };
    Some((reachable_host(&host), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<Token> {
        tokenize(text)
            .expect("tokens")
            .into_iter()
            .map(|(t, _)| t)
            .collect()
    }

    #[test]
    fn tokens_follow_nginx_quoting() {
        let w = |s: &str| Token::Word(s.to_string());
        assert_eq!(
            words("a \"b c\" 'd;e' f\\;g; # comment {\n h ${x}y {}"),
            vec![
                w("a"),
                w("b c"),
                w("d;e"),
                w("f;g"),
                Token::Semicolon,
                w("h"),
                w("${x}y"),
                Token::Open,
                Token::Close
            ]
        );
        assert!(tokenize("a \"unterminated;\n").is_err());
    }

    #[test]
    fn listen_addresses() {
        assert_eq!(listen_address("443"), Some(("127.0.0.1".into(), 443)));
        assert_eq!(listen_address("*:8443"), Some(("127.0.0.1".into(), 8443)));
        assert_eq!(
            listen_address("10.0.0.5:443"),
            Some(("10.0.0.5".into(), 443))
        );
        assert_eq!(listen_address("[::]:443"), Some(("::1".into(), 443)));
        assert_eq!(listen_address("[::1]"), Some(("::1".into(), 80)));
        assert_eq!(
            listen_address("www.example.test:443"),
            Some(("www.example.test".into(), 443))
        );
        assert_eq!(listen_address("unix:/run/x.sock"), None);
        assert_eq!(listen_address("[::1]:x"), None);
    }

    #[test]
    fn server_blocks_give_files_and_listeners() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::create_dir_all(d.join("sites")).expect("mkdir");
        std::fs::write(
            d.join("nginx.conf"),
            "events {}\nhttp {\n  ssl_certificate /etc/ssl/default.pem;\n  include sites/*.conf;\n}\n\
             stream {\n  server {\n    listen 127.0.0.9:6443 ssl;\n    ssl_certificate stream.pem;\n  }\n}\n",
        )
        .expect("write");
        std::fs::write(
            d.join("sites/a.conf"),
            "server {\n  listen 443 ssl http2;\n  listen [::]:443 ssl;\n  listen 80;\n  server_name _ *.example.test www.example.test;\n  ssl_certificate \"/etc/ssl/www.pem\";\n  ssl_certificate /etc/ssl/www-ecdsa.pem;\n}\n\
             server {\n  listen 8443 ssl;\n  server_name \"\";\n}\n\
             server {\n  listen 9443;\n  ssl_certificate $ssl_server_name.pem;\n}\n",
        )
        .expect("write");
        let named = read(&d.join("nginx.conf")).expect("read");
        let files: Vec<String> = named
            .files
            .iter()
            .map(|f| f.path.display().to_string())
            .collect();
        assert_eq!(
            files,
            vec![
                "/etc/ssl/default.pem".to_string(),
                "/etc/ssl/www.pem".to_string(),
                "/etc/ssl/www-ecdsa.pem".to_string(),
                d.join("stream.pem").display().to_string(),
            ]
        );
        assert!(
            named.files[1].named_at.ends_with("a.conf:6"),
            "{:?}",
            named.files[1]
        );
        let endpoints: Vec<(String, u16, Option<String>)> = named
            .endpoints
            .iter()
            .map(|e| (e.host.clone(), e.port, e.server_name.clone()))
            .collect();
        assert_eq!(
            endpoints,
            vec![
                ("127.0.0.1".into(), 443, Some("www.example.test".into())),
                ("::1".into(), 443, Some("www.example.test".into())),
                ("127.0.0.1".into(), 8443, None),
                ("127.0.0.9".into(), 6443, None),
            ]
        );
        assert!(
            named
                .notes
                .iter()
                .any(|n| n.contains("computed per request")),
            "{:?}",
            named.notes
        );
    }

    #[test]
    fn broken_configuration_names_file_and_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let conf = dir.path().join("nginx.conf");
        std::fs::write(&conf, "http {\n  server {\n    listen 443 ssl;\n  }\n").expect("write");
        let e = read(&conf).expect_err("unbalanced");
        assert!(e.contains("nginx.conf") && e.contains("end of file"), "{e}");
        std::fs::write(&conf, "http {\n}\n}\n").expect("write");
        let e = read(&conf).expect_err("extra brace");
        assert!(e.contains("nginx.conf:3"), "{e}");
        // An include loop is bounded.
        std::fs::write(&conf, "include nginx.conf;\n").expect("write");
        let e = read(&conf).expect_err("loop");
        assert!(e.contains("nested more than"), "{e}");
        // A missing include is a note, as a missing glob match is nothing.
        std::fs::write(&conf, "include missing.conf;\ninclude none/*.conf;\n").expect("write");
        let named = read(&conf).expect("read");
        assert_eq!(named.notes.len(), 1, "{:?}", named.notes);
    }
}
