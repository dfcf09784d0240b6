//! The clear-text part of a STARTTLS scan: greet the server in its own protocol, ask it to
//! upgrade, and hand the socket to the TLS handshake only once it has agreed.
//!
//! A mail relay, a directory or a database often carries the certificate nobody remembers, and it
//! only shows it after a protocol exchange (RFC 3207 SMTP, RFC 2595 IMAP/POP3, RFC 4217 FTP,
//! RFC 4511 LDAP, the PostgreSQL SSLRequest, the MySQL SSLRequest, RFC 6120 XMPP). Every answer is read with a size limit, and the
//! caller bounds the whole exchange by the handshake timeout, so a server that answers garbage,
//! drips bytes or never answers costs a bounded time and yields `starttls_refused` or `timeout`,
//! never a hang. Data sent after the server's "go ahead" is refused too: it would be read as
//! if it came over TLS (the STARTTLS command-injection class, CVE-2011-0411).

use der_parser::ber::{BerObject, BerObjectContent, parse_ber};
use der_parser::nom;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::model::Starttls;

mod mysql;
mod xmpp;

/// The longest line a server may send while greeting or answering.
const MAX_LINE: usize = 4096;
/// The most bytes read from the server before TLS starts.
const MAX_TOTAL: usize = 64 * 1024;
/// The most lines of one reply (SMTP EHLO lists, IMAP untagged responses).
const MAX_LINES: usize = 100;

/// Why a server did not upgrade. Each message names what it sent, quoted and shortened.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("{0}")]
    Refused(String),
    #[error("the connection failed during the {protocol} exchange: {source}")]
    Io {
        protocol: Starttls,
        source: std::io::Error,
    },
}

/// Greets the server and asks for TLS. On `Ok` the next bytes on `stream` are the TLS handshake.
/// `domain` is the name the client asks for where the protocol names one (XMPP's stream `to`).
pub async fn upgrade(
    stream: &mut TcpStream,
    protocol: Starttls,
    domain: &str,
) -> Result<(), Refusal> {
    let mut talk = Talk {
        stream,
        protocol,
        buf: Vec::new(),
        read_total: 0,
    };
    match protocol {
        Starttls::Smtp => smtp(&mut talk).await?,
        Starttls::Imap => imap(&mut talk).await?,
        Starttls::Pop3 => pop3(&mut talk).await?,
        Starttls::Ftp => ftp(&mut talk).await?,
        Starttls::Ldap => ldap(&mut talk).await?,
        Starttls::Postgres => postgres(&mut talk).await?,
        Starttls::Mysql => mysql::upgrade(&mut talk).await?,
        Starttls::Xmpp => xmpp::upgrade(&mut talk, domain).await?,
    }
    if !talk.buf.is_empty() {
        return Err(Refusal::Refused(format!(
            "the server sent {} bytes after agreeing to {}; refusing to read them as TLS",
            talk.buf.len(),
            command(protocol)
        )));
    }
    Ok(())
}

/// The upgrade command, as people know it.
fn command(protocol: Starttls) -> &'static str {
    match protocol {
        Starttls::Smtp | Starttls::Imap => "STARTTLS",
        Starttls::Pop3 => "STLS",
        Starttls::Ftp => "AUTH TLS",
        Starttls::Ldap => "the StartTLS extended operation",
        Starttls::Postgres | Starttls::Mysql => "SSLRequest",
        Starttls::Xmpp => "<starttls/>",
    }
}

/// RFC 3207: greeting 220, EHLO must list STARTTLS, STARTTLS answered 220.
async fn smtp(talk: &mut Talk<'_>) -> Result<(), Refusal> {
    let (code, lines) = talk.numeric_reply().await?;
    if code != 220 {
        return Err(talk.refused(format!("greeted with {}", quote(&lines.join(" / ")))));
    }
    talk.send(b"EHLO certctl.invalid\r\n").await?;
    let (code, lines) = talk.numeric_reply().await?;
    if code != 250 {
        return Err(talk.refused(format!("answered EHLO with {}", quote(&lines.join(" / ")))));
    }
    let offers = lines.iter().skip(1).any(|l| {
        l.get(4..)
            .is_some_and(|kw| kw.trim().eq_ignore_ascii_case("STARTTLS"))
    });
    if !offers {
        let keywords: Vec<&str> = lines.iter().skip(1).filter_map(|l| l.get(4..)).collect();
        return Err(talk.refused(format!(
            "does not offer STARTTLS (EHLO lists: {})",
            quote(&keywords.join(", "))
        )));
    }
    talk.send(b"STARTTLS\r\n").await?;
    let (code, lines) = talk.numeric_reply().await?;
    if code != 220 {
        return Err(talk.refused(format!(
            "answered STARTTLS with {}",
            quote(&lines.join(" / "))
        )));
    }
    Ok(())
}

/// RFC 2595 / RFC 9051: greeting `* OK`, then `a1 STARTTLS` answered `a1 OK`.
async fn imap(talk: &mut Talk<'_>) -> Result<(), Refusal> {
    let greeting = talk.line().await?;
    if !starts_with_ci(&greeting, "* OK") {
        return Err(talk.refused(format!("greeted with {}", quote(&greeting))));
    }
    talk.send(b"a1 STARTTLS\r\n").await?;
    for _ in 0..MAX_LINES {
        let line = talk.line().await?;
        if let Some(status) = line.strip_prefix("a1 ") {
            if starts_with_ci(status, "OK") {
                return Ok(());
            }
            return Err(talk.refused(format!("answered STARTTLS with {}", quote(&line))));
        }
        if !line.starts_with("* ") {
            return Err(talk.refused(format!("answered STARTTLS with {}", quote(&line))));
        }
    }
    Err(talk.refused(format!(
        "sent more than {MAX_LINES} lines without answering STARTTLS"
    )))
}

/// RFC 2595: greeting `+OK`, then `STLS` answered `+OK`.
async fn pop3(talk: &mut Talk<'_>) -> Result<(), Refusal> {
    let greeting = talk.line().await?;
    if !greeting.starts_with("+OK") {
        return Err(talk.refused(format!("greeted with {}", quote(&greeting))));
    }
    talk.send(b"STLS\r\n").await?;
    let answer = talk.line().await?;
    if !answer.starts_with("+OK") {
        return Err(talk.refused(format!("answered STLS with {}", quote(&answer))));
    }
    Ok(())
}

/// RFC 4217: greeting 220, then `AUTH TLS` answered 234.
async fn ftp(talk: &mut Talk<'_>) -> Result<(), Refusal> {
    let (code, lines) = talk.numeric_reply().await?;
    if code != 220 {
        return Err(talk.refused(format!("greeted with {}", quote(&lines.join(" / ")))));
    }
    talk.send(b"AUTH TLS\r\n").await?;
    let (code, lines) = talk.numeric_reply().await?;
    if code != 234 {
        return Err(talk.refused(format!(
            "answered AUTH TLS with {}",
            quote(&lines.join(" / "))
        )));
    }
    Ok(())
}

/// The BER of `LDAPMessage { messageID 1, extendedReq { requestName 1.3.6.1.4.1.1466.20037 } }`
/// (RFC 4511 section 4.14).
const LDAP_STARTTLS: &[u8] = b"\x30\x1d\x02\x01\x01\x77\x18\x80\x161.3.6.1.4.1.1466.20037";

/// RFC 4511: the StartTLS extended request, answered by an extended response with resultCode 0.
async fn ldap(talk: &mut Talk<'_>) -> Result<(), Refusal> {
    talk.send(LDAP_STARTTLS).await?;
    loop {
        // Every LDAPMessage is a SEQUENCE: anything else is not LDAP, whatever length it claims.
        if talk.buf.first().is_some_and(|&b| b != 0x30) {
            return Err(talk.refused(format!(
                "answered with bytes that are not an LDAP message: {}",
                quote_bytes(&talk.buf)
            )));
        }
        match parse_ber(&talk.buf) {
            Ok((rest, message)) => {
                let used = talk.buf.len() - rest.len();
                let verdict = ldap_verdict(&message);
                talk.buf.drain(..used);
                return verdict.map_err(|why| talk.refused(why));
            }
            Err(nom::Err::Incomplete(_)) => talk.fill().await?,
            Err(e) => {
                return Err(talk.refused(format!(
                    "answered with bytes that are not an LDAP message ({e}): {}",
                    quote_bytes(&talk.buf)
                )));
            }
        }
    }
}

/// Reads the resultCode of an LDAP extended response.
fn ldap_verdict(message: &BerObject<'_>) -> Result<(), String> {
    let not_ldap = || "answered with a BER value that is not an LDAP extended response".to_string();
    let fields = message.as_sequence().map_err(|_| not_ldap())?;
    let op = fields.get(1).ok_or_else(not_ldap)?;
    // [APPLICATION 24] ExtendedResponse, constructed: its content is the LDAPResult fields.
    if op.header.tag().0 != 24 {
        return Err(format!(
            "answered with LDAP operation [APPLICATION {}], not an extended response",
            op.header.tag().0
        ));
    }
    let inner = match &op.content {
        BerObjectContent::Unknown(any) => parse_fields(any.data).ok_or_else(not_ldap)?,
        _ => return Err(not_ldap()),
    };
    let code = inner
        .first()
        .and_then(|o| match &o.content {
            BerObjectContent::Enum(code) => Some(*code),
            _ => None,
        })
        .ok_or_else(not_ldap)?;
    if code == 0 {
        return Ok(());
    }
    let diagnostic = inner
        .get(2)
        .and_then(|o| o.as_slice().ok())
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    Err(format!(
        "refused StartTLS: resultCode {code} ({}){}",
        ldap_result_name(code),
        if diagnostic.is_empty() {
            String::new()
        } else {
            format!(", {}", quote(&diagnostic))
        }
    ))
}

/// The consecutive BER values in `data`, or `None` if any does not parse.
fn parse_fields(mut data: &[u8]) -> Option<Vec<BerObject<'_>>> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let (rest, obj) = parse_ber(data).ok()?;
        out.push(obj);
        data = rest;
    }
    Some(out)
}

fn ldap_result_name(code: u64) -> &'static str {
    match code {
        1 => "operationsError",
        2 => "protocolError",
        12 => "unavailableCriticalExtension",
        13 => "confidentialityRequired",
        50 => "insufficientAccessRights",
        51 => "busy",
        52 => "unavailable",
        53 => "unwillingToPerform",
        80 => "other",
        _ => "see RFC 4511 appendix A",
    }
}

/// The PostgreSQL SSLRequest: length 8, code 80877103.
const PG_SSLREQUEST: &[u8] = &[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

/// PostgreSQL's protocol: SSLRequest answered by one byte, `S` to go ahead.
async fn postgres(talk: &mut Talk<'_>) -> Result<(), Refusal> {
    talk.send(PG_SSLREQUEST).await?;
    if talk.buf.is_empty() {
        talk.fill().await?;
    }
    let answer = talk.buf.remove(0);
    match answer {
        b'S' => Ok(()),
        b'N' => Err(talk
            .refused("answered N to SSLRequest: the server has TLS turned off (ssl = off)".into())),
        b'E' => Err(talk.refused(format!(
            "answered SSLRequest with an error message: {}",
            quote_bytes(&talk.buf)
        ))),
        other => Err(talk.refused(format!(
            "answered SSLRequest with byte 0x{other:02x}, which is not PostgreSQL's S or N"
        ))),
    }
}

/// One clear-text conversation: reads are buffered here so that nothing past a reply is lost.
struct Talk<'a> {
    stream: &'a mut TcpStream,
    protocol: Starttls,
    buf: Vec<u8>,
    read_total: usize,
}

impl Talk<'_> {
    fn refused(&self, why: String) -> Refusal {
        Refusal::Refused(format!("{} server {why}", self.protocol))
    }

    fn io(&self, source: std::io::Error) -> Refusal {
        Refusal::Io {
            protocol: self.protocol,
            source,
        }
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), Refusal> {
        let sent = self.stream.write_all(bytes).await;
        sent.map_err(|e| self.io(e))
    }

    /// Reads more bytes into the buffer: an error at end of stream or past [`MAX_TOTAL`].
    async fn fill(&mut self) -> Result<(), Refusal> {
        if self.read_total >= MAX_TOTAL {
            return Err(self.refused(format!(
                "sent more than {} KiB without agreeing to {}",
                MAX_TOTAL / 1024,
                command(self.protocol)
            )));
        }
        let mut chunk = [0u8; 4096];
        let n = match self.stream.read(&mut chunk).await {
            Ok(n) => n,
            Err(e) => return Err(self.io(e)),
        };
        if n == 0 {
            let what = if self.buf.is_empty() {
                "closed the connection".to_string()
            } else {
                format!(
                    "closed the connection after sending {}",
                    quote_bytes(&self.buf)
                )
            };
            return Err(self.refused(what));
        }
        self.read_total += n;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// One line, without its CR LF.
    async fn line(&mut self) -> Result<String, Refusal> {
        loop {
            if let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=end).collect();
                let text = String::from_utf8_lossy(&line);
                return Ok(text.trim_end_matches(['\r', '\n']).to_string());
            }
            if self.buf.len() > MAX_LINE {
                return Err(self.refused(format!(
                    "sent a line longer than {MAX_LINE} bytes: {}",
                    quote_bytes(&self.buf)
                )));
            }
            self.fill().await?;
        }
    }

    /// An SMTP/FTP reply: lines `NNN-text` ending with `NNN text`; its code and its lines.
    async fn numeric_reply(&mut self) -> Result<(u16, Vec<String>), Refusal> {
        let mut lines = Vec::new();
        loop {
            let line = self.line().await?;
            let code = line
                .get(..3)
                .filter(|c| c.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|c| c.parse::<u16>().ok());
            let Some(code) = code else {
                return Err(self.refused(format!(
                    "answered {}, which is not a {} reply",
                    quote(&line),
                    self.protocol
                )));
            };
            let last = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line);
            if last {
                return Ok((code, lines));
            }
            if lines.len() >= MAX_LINES {
                return Err(self.refused(format!("sent a reply of more than {MAX_LINES} lines")));
            }
        }
    }
}

fn starts_with_ci(text: &str, prefix: &str) -> bool {
    text.get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
}

/// Server text for a message: printable characters only, at most 120 of them, in quotes.
fn quote(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { '.' } else { c })
        .take(120)
        .collect();
    let more = if text.chars().count() > 120 {
        "…"
    } else {
        ""
    };
    format!("\"{clean}{more}\"")
}

fn quote_bytes(bytes: &[u8]) -> String {
    quote(&String::from_utf8_lossy(&bytes[..bytes.len().min(240)]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ldap_request_is_well_formed_ber() {
        let (rest, msg) = parse_ber(LDAP_STARTTLS).expect("ber");
        assert!(rest.is_empty());
        let fields = msg.as_sequence().expect("sequence");
        assert_eq!(fields.len(), 2);
        assert_eq!(fields[1].header.tag().0, 23);
    }

    fn verdict(bytes: &[u8]) -> Result<(), String> {
        let (_, msg) = parse_ber(bytes).expect("ber");
        ldap_verdict(&msg)
    }

    #[test]
    fn ldap_result_codes() {
        // messageID 1, ExtendedResponse { resultCode success, matchedDN "", diagnostic "" }
        assert!(verdict(b"\x30\x0c\x02\x01\x01\x78\x07\x0a\x01\x00\x04\x00\x04\x00").is_ok());
        let refused =
            verdict(b"\x30\x0e\x02\x01\x01\x78\x09\x0a\x01\x34\x04\x00\x04\x02no").unwrap_err();
        assert!(
            refused.contains("resultCode 52 (unavailable), \"no\""),
            "{refused}"
        );
        // A bind response ([APPLICATION 1]) is not an answer to StartTLS.
        let other =
            verdict(b"\x30\x0c\x02\x01\x01\x61\x07\x0a\x01\x00\x04\x00\x04\x00").unwrap_err();
        assert!(other.contains("[APPLICATION 1]"), "{other}");
        // Truncated input asks for more rather than failing.
        assert!(matches!(
            parse_ber(b"\x30\x0c\x02\x01"),
            Err(nom::Err::Incomplete(_))
        ));
    }

    #[test]
    fn quotes_are_short_and_printable() {
        assert_eq!(quote("a\r\nb"), "\"a..b\"");
        assert_eq!(quote(&"x".repeat(200)).chars().count(), 123);
    }
}
