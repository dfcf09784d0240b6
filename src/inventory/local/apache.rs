//! Apache httpd: `apache2.conf` and every file it includes, for the certificate files
//! (`SSLCertificateFile`, `SSLCertificateChainFile`, in the main server or a `<VirtualHost>`)
//! and the TLS listeners (the addresses of each `<VirtualHost>` with `SSLEngine on`, with its
//! `ServerName` as SNI).
//!
//! Read here rather than through `apache2ctl -S`, which prints neither certificate paths nor
//! anything at all once a named file is missing. Lines are read as httpd reads them (`\`
//! continuations, `#` comment lines, quoted arguments, `Define` and `${VAR}` from the
//! definitions and the environment), `Include` and `IncludeOptional` (files, globs,
//! directories) resolve against `ServerRoot` (by default the main file's directory, as on
//! Debian), and the walk is bounded like nginx's: include depth, file count and file size.
//! Conditional sections (`<IfModule>`, `<IfDefine>`, ...) are read as if their condition held.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::{Named, NamedEndpoint, NamedFile, reachable_host, resolve};

/// One directive or section (`name` lower-cased), where it is, and a section's body.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Node {
    name: String,
    args: Vec<String>,
    at: String,
    body: Option<Vec<Node>>,
}

/// Reads `main` and what it includes.
pub fn read(main: &Path) -> Result<Named, String> {
    let mut reader = Reader {
        root: main.parent().unwrap_or(Path::new("/")).to_path_buf(),
        defines: std::env::vars().collect(),
        files: 0,
        notes: Vec::new(),
    };
    let top = reader.file(main, 0)?;
    let mut named = Named {
        notes: std::mem::take(&mut reader.notes),
        ..Named::default()
    };
    let base = reader.root.clone();
    let main_server = Server::default().apply(&top, &base, &mut named);
    if main_server.engine {
        // The main server speaks TLS on every `Listen` that no virtual host claims.
        for n in flatten(&top).filter(|n| n.name == "listen") {
            if let Some(addr) = n.args.first() {
                listener(addr, &main_server, &n.at, &mut named);
            }
        }
    }
    for vhost in flatten(&top).filter(|n| n.name == "virtualhost") {
        let body = vhost.body.as_deref().unwrap_or(&[]);
        // A virtual host starts from the main server's `SSLEngine` and `ServerName`.
        let server = main_server.clone().apply(body, &base, &mut named);
        if server.engine {
            for addr in &vhost.args {
                listener(addr, &server, &vhost.at, &mut named);
            }
        }
    }
    Ok(named)
}

/// The TLS settings of the main server or of one virtual host.
#[derive(Debug, Default, Clone)]
struct Server {
    engine: bool,
    server_name: Option<String>,
}

impl Server {
    /// Applies the directives of one context (not descending into virtual hosts), recording
    /// the certificate files it names.
    fn apply(mut self, nodes: &[Node], base: &Path, named: &mut Named) -> Server {
        for n in flatten_here(nodes) {
            let first = n.args.first().map(String::as_str);
            match (n.name.as_str(), first) {
                ("sslengine", Some(v)) => self.engine = v.eq_ignore_ascii_case("on"),
                ("servername", Some(v)) => self.server_name = Some(host_of(v)),
                ("sslcertificatefile" | "sslcertificatechainfile", Some(v)) => {
                    named.files.push(NamedFile {
                        path: resolve(base, v),
                        server: "apache",
                        named_at: n.at.clone(),
                    });
                }
                _ => {}
            }
        }
        self
    }
}

/// The host of a `ServerName` (`[scheme://]name[:port]`).
fn host_of(value: &str) -> String {
    let v = value.split_once("://").map_or(value, |(_, rest)| rest);
    match v.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !host.ends_with(':') => {
            host.to_string()
        }
        _ => v.to_string(),
    }
}

/// Records the listener `addr` (`host:port`, `[v6]:port`, `*:443`, `_default_:443`, a bare
/// port in `Listen`) of `server`.
fn listener(addr: &str, server: &Server, at: &str, named: &mut Named) {
    let (host, port) = match addr.rsplit_once(':') {
        Some((host, port)) => (host, port),
        None => ("*", addr),
    };
    let Ok(port) = port.parse::<u16>() else {
        named.notes.push(format!(
            "{at}: {addr:?} has no port, so certctl does not know where to scan it"
        ));
        return;
    };
    let host = if host == "_default_" { "*" } else { host };
    named.endpoints.push(NamedEndpoint {
        host: reachable_host(host),
        port,
        server_name: server.server_name.clone(),
        starttls: None,
        server: "apache",
        named_at: at.to_string(),
    });
}

/// Every node, descending into sections (virtual hosts included).
fn flatten(nodes: &[Node]) -> impl Iterator<Item = &Node> {
    let mut out = Vec::new();
    fn walk<'a>(nodes: &'a [Node], out: &mut Vec<&'a Node>) {
        for n in nodes {
            out.push(n);
            if let Some(body) = &n.body {
                walk(body, out);
            }
        }
    }
    walk(nodes, &mut out);
    out.into_iter()
}

/// The nodes of one context: conditional sections are opened, virtual hosts and per-path
/// sections (`<Directory>`, `<Location>`, ...) are not (certificates cannot be set there).
fn flatten_here(nodes: &[Node]) -> Vec<&Node> {
    let mut out = Vec::new();
    for n in nodes {
        match &n.body {
            Some(body) if n.name.starts_with("if") || n.name == "else" || n.name == "elseif" => {
                out.extend(flatten_here(body));
            }
            Some(_) => {}
            None => out.push(n),
        }
    }
    out
}

struct Reader {
    root: PathBuf,
    defines: HashMap<String, String>,
    files: usize,
    notes: Vec<String>,
}

impl Reader {
    fn file(&mut self, path: &Path, depth: usize) -> Result<Vec<Node>, String> {
        let text = super::read_included(path, depth, &mut self.files)?;
        let lines = logical_lines(&text);
        let mut i = 0;
        let nodes = self.section(&lines, &mut i, path, depth, None)?;
        Ok(nodes)
    }

    /// Reads nodes until the end of the file or the end of the section `open`.
    fn section(
        &mut self,
        lines: &[(usize, String)],
        i: &mut usize,
        path: &Path,
        depth: usize,
        open: Option<(&str, &str)>,
    ) -> Result<Vec<Node>, String> {
        let shown = path.display();
        let mut out = Vec::new();
        while let Some((line, text)) = lines.get(*i) {
            *i += 1;
            let at = format!("{shown}:{line}");
            if let Some(close) = text.strip_prefix("</") {
                let name = close.trim_end_matches('>').trim().to_ascii_lowercase();
                return match open {
                    Some((want, _)) if want == name => Ok(out),
                    Some((want, opened)) => Err(format!(
                        "{at}: </{name}> closes <{want}> opened at {opened}"
                    )),
                    None => Err(format!("{at}: </{name}> without an open section")),
                };
            }
            if let Some(section) = text.strip_prefix('<') {
                let Some(inner) = section.strip_suffix('>') else {
                    return Err(format!("{at}: section {text:?} does not end with \">\""));
                };
                let words = self.words(inner, &at)?;
                let Some((name, args)) = words.split_first() else {
                    return Err(format!("{at}: an empty section"));
                };
                let name = name.to_ascii_lowercase();
                let body = self.section(lines, i, path, depth, Some((&name, &at)))?;
                out.push(Node {
                    name,
                    args: args.to_vec(),
                    at,
                    body: Some(body),
                });
                continue;
            }
            let words = self.words(text, &at)?;
            let Some((name, args)) = words.split_first() else {
                continue;
            };
            let name = name.to_ascii_lowercase();
            match name.as_str() {
                "define" => {
                    if let Some(var) = args.first() {
                        let value = args.get(1).cloned().unwrap_or_default();
                        self.defines.insert(var.clone(), value);
                    }
                }
                "serverroot" => {
                    if let Some(root) = args.first() {
                        self.root = PathBuf::from(root);
                    }
                }
                "include" | "includeoptional" => {
                    for pattern in args {
                        let optional = name == "includeoptional";
                        for file in self.expand(pattern, optional, &at)? {
                            out.extend(self.file(&file, depth + 1)?);
                        }
                    }
                    continue;
                }
                _ => {}
            }
            out.push(Node {
                name,
                args: args.to_vec(),
                at,
                body: None,
            });
        }
        match open {
            Some((name, opened)) => Err(format!(
                "{shown}: unexpected end of file: <{name}> opened at {opened} is not closed"
            )),
            None => Ok(out),
        }
    }

    /// The files an `Include` names: a file, every file under a directory, or a glob's matches
    /// (sorted, as httpd does). A missing `Include` is an error, as it is to httpd.
    fn expand(&mut self, pattern: &str, optional: bool, at: &str) -> Result<Vec<PathBuf>, String> {
        let full = resolve(&self.root, pattern);
        let text = full.display().to_string();
        if !text.contains(['*', '?', '[']) {
            if full.is_dir() {
                // Every file under the directory, subdirectories included.
                return super::files_under(&full)
                    .map_err(|e| format!("{at}: Include {pattern:?}: {e}"));
            }
            if full.exists() {
                return Ok(vec![full]);
            }
            if optional {
                return Ok(Vec::new());
            }
            return Err(format!("{at}: Include {pattern:?}: {text} does not exist"));
        }
        let files =
            super::glob_files(&text).map_err(|e| format!("{at}: Include {pattern:?}: {e}"))?;
        if files.is_empty() && !optional {
            self.notes
                .push(format!("{at}: Include {pattern:?} matches no file"));
        }
        Ok(files)
    }

    /// Splits a line into words (double or single quotes group, backslash escapes a quote),
    /// with `${VAR}` replaced by its definition.
    fn words(&self, text: &str, at: &str) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        let mut chars = text.chars().peekable();
        loop {
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            let Some(&first) = chars.peek() else { break };
            let mut word = String::new();
            if first == '"' || first == '\'' {
                chars.next();
                let mut closed = false;
                while let Some(c) = chars.next() {
                    match c {
                        '\\' if chars.peek() == Some(&first) => word.push(first),
                        c if c == first => {
                            closed = true;
                            break;
                        }
                        c => word.push(c),
                    }
                }
                if !closed {
                    return Err(format!("{at}: unterminated quote in {text:?}"));
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
            }
            out.push(self.substitute(&word));
        }
        Ok(out)
    }

    /// `${VAR}` from `Define` or the environment; an unknown one is left as written (httpd
    /// warns and does the same).
    fn substitute(&self, word: &str) -> String {
        let mut out = String::new();
        let mut rest = word;
        while let Some(start) = rest.find("${") {
            let Some(len) = rest[start..].find('}') else {
                break;
            };
            let var = &rest[start + 2..start + len];
            out.push_str(&rest[..start]);
            match self.defines.get(var) {
                Some(value) => out.push_str(value),
                None => out.push_str(&rest[start..=start + len]),
            }
            rest = &rest[start + len + 1..];
        }
        out.push_str(rest);
        out
    }
}

/// The file's lines joined across `\` continuations, without comments and blank lines, each
/// with the number of its first line.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let (start, mut joined) = match pending.take() {
            Some((start, so_far)) => (start, so_far),
            None => {
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                (n + 1, String::new())
            }
        };
        match line.strip_suffix('\\') {
            Some(head) => {
                joined.push_str(head);
                joined.push(' ');
                pending = Some((start, joined));
            }
            None => {
                joined.push_str(line);
                out.push((start, joined));
            }
        }
    }
    if let Some(last) = pending {
        out.push(last);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, text).expect("write");
        path
    }

    #[test]
    fn virtual_hosts_name_their_files_and_listeners() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let main = write(
            d,
            "apache2.conf",
            "# Debian-like\nDefine CERTS /srv/certs\nListen 443\nInclude ports.conf\nIncludeOptional sites-enabled/*.conf\nIncludeOptional conf-enabled/*.conf\n",
        );
        write(
            d,
            "ports.conf",
            "<IfModule ssl_module>\n  Listen 8443\n</IfModule>\n",
        );
        write(
            d,
            "sites-enabled/shop.conf",
            "<VirtualHost *:443 [::]:443>\n  ServerName https://shop.example.test:443\n  SSLEngine on\n  SSLCertificateFile \"${CERTS}/shop.pem\"\n  SSLCertificateChainFile \\\n    chain.pem\n  <Directory /var/www>\n    Require all granted\n  </Directory>\n</VirtualHost>\n\
             <VirtualHost 127.0.0.1:80>\n  ServerName plain.example.test\n</VirtualHost>\n\
             <VirtualHost _default_:8443>\n  <IfModule mod_ssl.c>\n    SSLEngine On\n    SSLCertificateFile ${UNDEFINED_HERE}/x.pem\n  </IfModule>\n</VirtualHost>\n",
        );
        let named = read(&main).expect("read");
        let files: Vec<String> = named
            .files
            .iter()
            .map(|f| f.path.display().to_string())
            .collect();
        assert_eq!(
            files,
            vec![
                "/srv/certs/shop.pem".to_string(),
                d.join("chain.pem").display().to_string(),
                d.join("${UNDEFINED_HERE}/x.pem").display().to_string(),
            ]
        );
        assert!(
            named.files[1].named_at.ends_with("shop.conf:5"),
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
                ("127.0.0.1".into(), 443, Some("shop.example.test".into())),
                ("::1".into(), 443, Some("shop.example.test".into())),
                ("127.0.0.1".into(), 8443, None),
            ]
        );
    }

    #[test]
    fn broken_configuration_says_where() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let unclosed = write(d, "a.conf", "<VirtualHost *:443>\n  SSLEngine on\n");
        let e = read(&unclosed).unwrap_err();
        assert!(
            e.contains("a.conf: unexpected end of file: <virtualhost> opened at"),
            "{e}"
        );
        let crossed = write(
            d,
            "b.conf",
            "<VirtualHost *:443>\n<IfModule x>\n</VirtualHost>\n",
        );
        let e = read(&crossed).unwrap_err();
        assert!(
            e.contains("b.conf:3: </virtualhost> closes <ifmodule>"),
            "{e}"
        );
        let missing = write(d, "c.conf", "Include nowhere.conf\n");
        let e = read(&missing).unwrap_err();
        assert!(e.contains("c.conf:1: Include \"nowhere.conf\""), "{e}");
        let looped = write(d, "d.conf", "Include d.conf\n");
        let e = read(&looped).unwrap_err();
        assert!(e.contains("include loop"), "{e}");
        let quote = write(d, "e.conf", "SSLCertificateFile \"/x\n");
        assert!(
            read(&quote)
                .unwrap_err()
                .contains("e.conf:1: unterminated quote")
        );
    }
}
