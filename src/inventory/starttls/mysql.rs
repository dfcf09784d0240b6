//! MySQL and MariaDB: the server speaks first with its handshake packet, whose capability flags
//! say whether it can do TLS (`CLIENT_SSL`); the client answers with an SSLRequest packet (the
//! first 32 bytes of a handshake response) and starts TLS at once, without a "go ahead".
//!
//! A server that refuses the client altogether (`Host ... is not allowed to connect`, too many
//! connections) sends an error packet instead of the handshake; its code and message are the
//! finding.

use super::{Refusal, Talk, quote_bytes};

/// `CLIENT_SSL`: the server can switch to TLS.
const CLIENT_SSL: u32 = 0x0800;
/// The capabilities the SSLRequest claims: long password, protocol 4.1, SSL, secure
/// connection, plugin auth (what every current client sends).
const REQUEST_CAPABILITIES: u32 =
    0x0000_0001 | 0x0000_0200 | CLIENT_SSL | 0x0000_8000 | 0x0008_0000;
/// The largest packet a handshake may be; real ones are about 100 bytes.
const MAX_PACKET: usize = 16 * 1024;

/// Reads the handshake, checks `CLIENT_SSL`, sends the SSLRequest.
pub(super) async fn upgrade(talk: &mut Talk<'_>) -> Result<(), Refusal> {
    let (sequence, payload) = packet(talk).await?;
    match payload.first() {
        Some(0xff) => return Err(talk.refused(error_packet(&payload))),
        Some(10) => {}
        Some(v) => {
            return Err(talk.refused(format!(
                "greeted with protocol version {v} ({}), not the MySQL handshake (version 10)",
                quote_bytes(&payload)
            )));
        }
        None => return Err(talk.refused("greeted with an empty packet".into())),
    }
    let handshake = Handshake::parse(&payload).ok_or_else(|| {
        talk.refused(format!(
            "sent a truncated handshake: {}",
            quote_bytes(&payload)
        ))
    })?;
    if handshake.capabilities & CLIENT_SSL == 0 {
        return Err(talk.refused(format!(
            "{} does not offer TLS (no CLIENT_SSL capability: the server has no certificate, or ssl is off)",
            handshake.version
        )));
    }
    talk.send(&ssl_request(sequence.wrapping_add(1))).await?;
    Ok(())
}

/// One packet: 3-byte little-endian length, a sequence number, the payload.
async fn packet(talk: &mut Talk<'_>) -> Result<(u8, Vec<u8>), Refusal> {
    while talk.buf.len() < 4 {
        talk.fill().await?;
    }
    let len =
        usize::from(talk.buf[0]) | usize::from(talk.buf[1]) << 8 | usize::from(talk.buf[2]) << 16;
    if len > MAX_PACKET {
        return Err(talk.refused(format!(
            "announced a first packet of {len} bytes, which is not a MySQL handshake ({})",
            quote_bytes(&talk.buf)
        )));
    }
    while talk.buf.len() < 4 + len {
        talk.fill().await?;
    }
    let sequence = talk.buf[3];
    let payload: Vec<u8> = talk.buf.drain(..4 + len).skip(4).collect();
    Ok((sequence, payload))
}

/// What certctl needs of the v10 handshake.
struct Handshake {
    version: String,
    capabilities: u32,
}

impl Handshake {
    /// Protocol version, NUL-terminated server version, connection id (4), auth data (8),
    /// filler (1), capabilities low (2), [charset (1), status (2), capabilities high (2) ...].
    fn parse(payload: &[u8]) -> Option<Handshake> {
        let rest = payload.get(1..)?;
        let nul = rest.iter().position(|&b| b == 0)?;
        let version = String::from_utf8_lossy(&rest[..nul]).into_owned();
        let after = rest.get(nul + 1..)?;
        let low = after.get(13..15)?;
        let high = after.get(18..20).unwrap_or(&[0, 0]);
        let capabilities = u32::from(low[0])
            | u32::from(low[1]) << 8
            | u32::from(high[0]) << 16
            | u32::from(high[1]) << 24;
        Some(Handshake {
            version: format!("MySQL {version}"),
            capabilities,
        })
    }
}

/// An error packet: 0xff, a 2-byte code, `#` and a 5-character SQL state, the message.
fn error_packet(payload: &[u8]) -> String {
    let code = match payload.get(1..3) {
        Some(c) => u16::from(c[0]) | u16::from(c[1]) << 8,
        None => return "sent a truncated error packet".into(),
    };
    let mut message = &payload[3..];
    if message.first() == Some(&b'#') && message.len() >= 6 {
        message = &message[6..];
    }
    format!(
        "refused the connection with error {code}: {}",
        quote_bytes(message)
    )
}

/// The SSLRequest packet: capabilities, max packet size, character set (utf8mb4), 23 zeros.
fn ssl_request(sequence: u8) -> Vec<u8> {
    let mut p = vec![32, 0, 0, sequence];
    p.extend_from_slice(&REQUEST_CAPABILITIES.to_le_bytes());
    p.extend_from_slice(&(16u32 << 20).to_le_bytes());
    p.push(45);
    p.extend_from_slice(&[0; 23]);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A MariaDB 10.11 handshake as sent by the server (capabilities 0xf7fe / 0x81bf).
    fn handshake(capabilities_low: [u8; 2]) -> Vec<u8> {
        let mut p = vec![10];
        p.extend_from_slice(b"5.5.5-10.11.19-MariaDB\0");
        p.extend_from_slice(&[1, 0, 0, 0]);
        p.extend_from_slice(b"abcdefgh\0");
        p.extend_from_slice(&capabilities_low);
        p.extend_from_slice(&[45, 2, 0, 0xbf, 0x81, 21]);
        p.extend_from_slice(&[0; 10]);
        p
    }

    #[test]
    fn the_handshake_says_whether_tls_is_offered() {
        let on = Handshake::parse(&handshake([0xfe, 0xff])).expect("parse");
        assert_eq!(on.version, "MySQL 5.5.5-10.11.19-MariaDB");
        assert_ne!(on.capabilities & CLIENT_SSL, 0);
        assert_eq!(on.capabilities >> 16, 0x81bf);
        let off = Handshake::parse(&handshake([0xfe, 0xf7])).expect("parse");
        assert_eq!(off.capabilities & CLIENT_SSL, 0);
        assert!(Handshake::parse(&[10, b'5', 0, 1, 2]).is_none());
        assert!(Handshake::parse(&[10, b'5']).is_none());
    }

    #[test]
    fn error_packets_and_the_request() {
        let mut e = vec![0xff, 0x6a, 0x04, b'#', b'H', b'Y', b'0', b'0', b'0'];
        e.extend_from_slice(b"Host '10.0.0.9' is not allowed to connect");
        assert_eq!(
            error_packet(&e),
            "refused the connection with error 1130: \"Host '10.0.0.9' is not allowed to connect\""
        );
        assert_eq!(error_packet(&[0xff]), "sent a truncated error packet");
        let r = ssl_request(1);
        assert_eq!(r.len(), 36);
        assert_eq!(&r[..4], &[32, 0, 0, 1]);
        let caps = u32::from_le_bytes([r[4], r[5], r[6], r[7]]);
        assert_ne!(caps & CLIENT_SSL, 0);
    }
}
