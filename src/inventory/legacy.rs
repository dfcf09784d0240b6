//! Reads the certificate of a server that rustls cannot talk to: TLS 1.0/1.1 only, or TLS 1.2
//! with only ciphers rustls does not implement (CBC, RSA key exchange, 3DES, RC4).
//!
//! Up to TLS 1.2 the server's Certificate message travels in clear, before any key is agreed.
//! So certctl sends a ClientHello offering TLS 1.0 to 1.2 with a broad list of old cipher
//! suites, reads the ServerHello and Certificate records with the `tls-parser` crate, and hangs
//! up: no key exchange, no trust placed in anything the peer says beyond what it presented. It
//! runs only after the rustls handshake failed on a version or cipher, so a legacy read costs at
//! most one handshake more. Every read is bounded: records by the TLS maximum, the whole
//! exchange by [`MAX_BYTES`], and the time by the caller's deadline.

use tls_parser::{
    TlsCipherSuite, TlsMessage, TlsMessageHandshake, TlsRecordType, parse_tls_message_handshake,
    parse_tls_raw_record,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The most bytes read from the peer before its certificates must have arrived.
const MAX_BYTES: usize = 256 * 1024;

/// What the peer sent in clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyHello {
    /// `SSLv3`, `TLSv1.0`, `TLSv1.1` or `TLSv1.2`.
    pub version: String,
    /// IANA name of the suite the server chose, or its number.
    pub cipher: String,
    /// DER certificates, leaf first.
    pub chain: Vec<Vec<u8>>,
}

/// Why a legacy read found no certificate.
#[derive(Debug, thiserror::Error)]
pub enum LegacyError {
    #[error("the server refused even a TLS 1.0-1.2 hello with legacy ciphers (alert {0})")]
    Alert(String),
    #[error("the server's answer to a legacy hello is not TLS: {0}")]
    Garbage(String),
    #[error("the server closed the connection before sending its certificate")]
    Closed,
    #[error("the server sent more than {} KiB without a certificate", MAX_BYTES / 1024)]
    TooLong,
    #[error("the connection failed during the legacy hello: {0}")]
    Io(#[from] std::io::Error),
}

/// Suites offered, strongest first: everything a TLS 1.0-1.2 server may still be limited to.
const SUITES: &[u16] = &[
    0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, // ECDHE AEAD
    0xc009, 0xc013, 0xc00a, 0xc014, 0xc023, 0xc027, 0xc024, 0xc028, // ECDHE CBC
    0x009e, 0x009f, 0x0033, 0x0039, 0x0067, 0x006b, 0xccaa, // DHE
    0x009c, 0x009d, 0x002f, 0x0035, 0x003c, 0x003d, // RSA key exchange
    0x0041, 0x0084, 0x0045, 0x0088, 0x0096, // Camellia, SEED
    0xc008, 0xc012, 0x0016, 0x000a, // 3DES
    0xc007, 0xc011, 0x0005, 0x0004, // RC4
    0x0032, 0x0038, 0x0013, 0x0040, 0x006a, // DHE-DSS
    0x0009, 0x0015, 0x0012, 0x0007, // DES, IDEA
    0x0003, 0x0006, 0x0008, 0x0014, 0x0011, // export grade
    0x00ff, // renegotiation info SCSV
];

/// A ClientHello record offering TLS 1.0 to 1.2, with SNI when `sni` is a DNS name.
pub fn client_hello(sni: Option<&str>, random: [u8; 32]) -> Vec<u8> {
    let mut ext = Vec::new();
    if let Some(name) = sni {
        let name = name.as_bytes();
        let mut list = vec![0u8]; // host_name
        push_u16(&mut list, name.len());
        list.extend_from_slice(name);
        let mut body = Vec::new();
        push_u16(&mut body, list.len());
        body.extend_from_slice(&list);
        extension(&mut ext, 0x0000, &body);
    }
    // supported_groups: x25519, P-256, P-384, P-521.
    extension(&mut ext, 0x000a, &[0, 8, 0, 29, 0, 23, 0, 24, 0, 25]);
    // ec_point_formats: uncompressed.
    extension(&mut ext, 0x000b, &[1, 0]);
    // signature_algorithms (TLS 1.2): ECDSA, RSA-PSS, RSA PKCS#1, Ed25519, then SHA-1 ones.
    let schemes: [u16; 12] = [
        0x0403, 0x0503, 0x0603, 0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601, 0x0807, 0x0201,
        0x0203,
    ];
    let mut sig = Vec::new();
    push_u16(&mut sig, schemes.len() * 2);
    for s in schemes {
        push_u16(&mut sig, s.into());
    }
    extension(&mut ext, 0x000d, &sig);

    let mut hello = Vec::new();
    hello.extend_from_slice(&[0x03, 0x03]); // client_version: TLS 1.2, the highest offered
    hello.extend_from_slice(&random);
    hello.push(0); // no session id
    push_u16(&mut hello, SUITES.len() * 2);
    for s in SUITES {
        push_u16(&mut hello, (*s).into());
    }
    hello.extend_from_slice(&[1, 0]); // compression: null only
    push_u16(&mut hello, ext.len());
    hello.extend_from_slice(&ext);

    let mut handshake = vec![1u8]; // client_hello
    let len = hello.len();
    handshake.extend_from_slice(&[(len >> 16) as u8, (len >> 8) as u8, len as u8]);
    handshake.extend_from_slice(&hello);

    // Record version 1.0 for the first record, as browsers did for the widest reach.
    let mut record = vec![0x16, 0x03, 0x01];
    push_u16(&mut record, handshake.len());
    record.extend_from_slice(&handshake);
    record
}

fn push_u16(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&(n as u16).to_be_bytes());
}

fn extension(out: &mut Vec<u8>, kind: u16, body: &[u8]) {
    push_u16(out, kind.into());
    push_u16(out, body.len());
    out.extend_from_slice(body);
}

/// Sends a legacy hello on `stream` and reads until the server's certificates arrive.
pub async fn read<S>(stream: &mut S, sni: Option<&str>) -> Result<LegacyHello, LegacyError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut random = [0u8; 32];
    // The random only has to be unpredictable enough not to collide; the OS RNG cannot fail
    // in practice, and a zero random is harmless for a connection that never agrees on keys.
    let _ = getrandom::fill(&mut random);
    stream.write_all(&client_hello(sni, random)).await?;
    let mut wire: Vec<u8> = Vec::new();
    let mut handshake: Vec<u8> = Vec::new();
    let mut server_hello: Option<(String, String)> = None;
    loop {
        // Take every complete record from the wire.
        loop {
            match parse_tls_raw_record(&wire) {
                Ok((rest, record)) => {
                    let used = wire.len() - rest.len();
                    match record.hdr.record_type {
                        TlsRecordType::Handshake => handshake.extend_from_slice(record.data),
                        TlsRecordType::Alert => {
                            let code = record.data.get(1).copied().unwrap_or(0);
                            return Err(LegacyError::Alert(alert_name(code)));
                        }
                        other => {
                            return Err(LegacyError::Garbage(format!(
                                "a {other:?} record before the certificate"
                            )));
                        }
                    }
                    wire.drain(..used);
                }
                Err(tls_parser::nom::Err::Incomplete(_)) => break,
                Err(e) => {
                    return Err(LegacyError::Garbage(format!(
                        "{e:?} at {:02x?}",
                        &wire[..wire.len().min(16)]
                    )));
                }
            }
        }
        // Then every complete handshake message.
        loop {
            match parse_tls_message_handshake(&handshake) {
                Ok((rest, message)) => {
                    let used = handshake.len() - rest.len();
                    match message {
                        TlsMessage::Handshake(TlsMessageHandshake::ServerHello(hello)) => {
                            server_hello =
                                Some((version_name(hello.version.0), cipher_name(hello.cipher.0)));
                        }
                        TlsMessage::Handshake(TlsMessageHandshake::Certificate(certs)) => {
                            let Some((version, cipher)) = server_hello else {
                                return Err(LegacyError::Garbage(
                                    "a Certificate message before the ServerHello".into(),
                                ));
                            };
                            return Ok(LegacyHello {
                                version,
                                cipher,
                                chain: certs.cert_chain.iter().map(|c| c.data.to_vec()).collect(),
                            });
                        }
                        TlsMessage::Handshake(TlsMessageHandshake::ServerDone(_)) => {
                            return Err(LegacyError::Garbage(
                                "the server finished its hello without a certificate (an anonymous or PSK suite)".into(),
                            ));
                        }
                        _ => {}
                    }
                    handshake.drain(..used);
                }
                Err(tls_parser::nom::Err::Incomplete(_)) => break,
                Err(e) => {
                    return Err(LegacyError::Garbage(format!(
                        "an unreadable handshake message ({e:?})"
                    )));
                }
            }
        }
        if wire.len() + handshake.len() > MAX_BYTES {
            return Err(LegacyError::TooLong);
        }
        let mut chunk = [0u8; 16 * 1024];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(LegacyError::Closed);
        }
        wire.extend_from_slice(&chunk[..n]);
    }
}

fn version_name(v: u16) -> String {
    match v {
        0x0300 => "SSLv3".into(),
        0x0301 => "TLSv1.0".into(),
        0x0302 => "TLSv1.1".into(),
        0x0303 => "TLSv1.2".into(),
        other => format!("0x{other:04x}"),
    }
}

fn cipher_name(id: u16) -> String {
    TlsCipherSuite::from_id(id)
        .map(|s| s.name.to_string())
        .unwrap_or_else(|| format!("0x{id:04x}"))
}

fn alert_name(code: u8) -> String {
    match code {
        40 => "handshake_failure".into(),
        47 => "illegal_parameter".into(),
        70 => "protocol_version".into(),
        71 => "insufficient_security".into(),
        80 => "internal_error".into(),
        112 => "unrecognized_name".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tls_parser::{TlsVersion, parse_tls_plaintext};

    #[test]
    fn the_hello_parses_back_with_tls_parser() {
        let record = client_hello(Some("legacy.example"), [7; 32]);
        let (rest, plain) = parse_tls_plaintext(&record).expect("record");
        assert!(rest.is_empty());
        assert_eq!(plain.hdr.version, TlsVersion::Tls10);
        let TlsMessage::Handshake(TlsMessageHandshake::ClientHello(hello)) = &plain.msg[0] else {
            panic!("not a ClientHello: {:?}", plain.msg);
        };
        assert_eq!(hello.version, TlsVersion::Tls12);
        assert_eq!(hello.ciphers.len(), SUITES.len());
        let (_, exts) =
            tls_parser::parse_tls_client_hello_extensions(hello.ext.expect("extensions"))
                .expect("extensions");
        assert!(exts.iter().any(|e| matches!(
            e,
            tls_parser::TlsExtension::SNI(names) if names[0].1 == b"legacy.example"
        )));
        assert_eq!(exts.len(), 4);
    }

    #[test]
    fn names() {
        assert_eq!(version_name(0x0301), "TLSv1.0");
        assert_eq!(cipher_name(0x002f), "TLS_RSA_WITH_AES_128_CBC_SHA");
        assert_eq!(cipher_name(0xfefe), "0xfefe");
    }

    /// Runs `read` against canned server bytes.
    async fn against(server: Vec<u8>) -> Result<LegacyHello, LegacyError> {
        let (mut client, mut peer) = tokio::io::duplex(1 << 20);
        tokio::spawn(async move {
            let mut hello = vec![0u8; 4096];
            let _ = peer.read(&mut hello).await;
            let _ = peer.write_all(&server).await;
        });
        read(&mut client, None).await
    }

    fn record(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut r = vec![kind, 3, 1];
        push_u16(&mut r, body.len());
        r.extend_from_slice(body);
        r
    }

    fn handshake(kind: u8, body: &[u8]) -> Vec<u8> {
        let len = body.len();
        let mut m = vec![kind, (len >> 16) as u8, (len >> 8) as u8, len as u8];
        m.extend_from_slice(body);
        m
    }

    #[tokio::test]
    async fn hostile_answers_are_errors() {
        let alert = against(record(21, &[2, 70])).await.unwrap_err();
        assert!(alert.to_string().contains("protocol_version"), "{alert}");
        let garbage = against(b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec())
            .await
            .unwrap_err();
        assert!(matches!(garbage, LegacyError::Garbage(_)), "{garbage}");
        let closed = against(Vec::new()).await.unwrap_err();
        assert!(matches!(closed, LegacyError::Closed), "{closed}");
        // A Certificate with no ServerHello first.
        let cert = handshake(11, &[0, 0, 0]);
        let early = against(record(22, &cert)).await.unwrap_err();
        assert!(
            early.to_string().contains("before the ServerHello"),
            "{early}"
        );
        // Endless empty handshake fragments: bounded by MAX_BYTES.
        let mut flood = Vec::new();
        flood.extend(record(22, &[2, 0xff, 0xff, 0xff]));
        while flood.len() < MAX_BYTES + 64 * 1024 {
            flood.extend(record(22, &[0u8; 1000]));
        }
        let long = against(flood).await.unwrap_err();
        assert!(matches!(long, LegacyError::TooLong), "{long}");
    }

    #[tokio::test]
    async fn a_server_hello_and_certificate_split_across_records_are_read() {
        let mut hello = vec![3, 1];
        hello.extend_from_slice(&[9; 32]);
        hello.push(0);
        hello.extend_from_slice(&[0x00, 0x2f, 0]);
        let mut certs = Vec::new();
        let der = vec![0x30, 0x03, 1, 2, 3];
        let entry_len = der.len();
        let total = entry_len + 3;
        certs.extend_from_slice(&[(total >> 16) as u8, (total >> 8) as u8, total as u8]);
        certs.extend_from_slice(&[0, 0, entry_len as u8]);
        certs.extend_from_slice(&der);
        let mut messages = handshake(2, &hello);
        messages.extend(handshake(11, &certs));
        let (a, b) = messages.split_at(20);
        let mut wire = record(22, a);
        wire.extend(record(22, b));
        let got = against(wire).await.expect("read");
        assert_eq!(got.version, "TLSv1.0");
        assert_eq!(got.cipher, "TLS_RSA_WITH_AES_128_CBC_SHA");
        assert_eq!(got.chain, vec![der]);
    }
}
