//! The only module that touches `x509-parser`: it turns PEM or DER bytes into [`CertRecord`]s.
//!
//! Everything downstream works on the plain records, so a parser upgrade or swap stays here. PEM is
//! split into blocks by a small line scanner first, so that an error can name the line it is on;
//! the base64 and DER decoding itself is left to x509-parser.

use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::objects::{oid_registry, oid2sn};
use x509_parser::oid_registry::{
    OID_PKIX_ACCESS_DESCRIPTOR_CA_ISSUERS, OID_PKIX_ACCESS_DESCRIPTOR_OCSP,
};
use x509_parser::pem::Pem;
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;
use x509_parser::x509::X509Name;

use crate::model::{CertRecord, KeyInfo};

pub mod revocation;

/// Why bytes could not be read as certificates.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum X509Error {
    /// The DER encoding of a certificate is invalid.
    #[error("invalid DER certificate: {0}")]
    Der(String),
    /// A PEM block is malformed; `line` is 1-based and points at its BEGIN line.
    #[error("line {line}: {reason}")]
    Pem { line: usize, reason: String },
    /// The input holds neither a PEM certificate block nor a DER certificate.
    #[error("no certificate found (not PEM, not DER)")]
    NotACertificate,
}

/// A certificate found in a file, with its DER bytes (for trust stores) and its record.
#[derive(Debug, Clone)]
pub struct ParsedCert {
    pub der: Vec<u8>,
    pub record: CertRecord,
    /// 1-based line of the PEM block, or `None` for DER input.
    pub line: Option<usize>,
}

/// What a file held: certificates, problems by line, and how many private keys were skipped.
#[derive(Debug, Default)]
pub struct FileContents {
    pub certs: Vec<ParsedCert>,
    pub problems: Vec<X509Error>,
    /// Private key blocks seen and deliberately ignored (never parsed, never printed).
    pub private_keys: usize,
}

/// Parses one DER certificate into a record.
pub fn parse_der(der: &[u8]) -> Result<CertRecord, X509Error> {
    let (rest, cert) = X509Certificate::from_der(der).map_err(|e| X509Error::Der(e.to_string()))?;
    // Trailing bytes are tolerated: OpenSSL "TRUSTED CERTIFICATE" blocks append trust settings.
    let _ = rest;
    Ok(record_of(&cert, der))
}

/// The subject of a DER certificate (as RFC 4514 text, like [`CertRecord::subject`]), without
/// the rest of the record: for the trust store, which reads a few hundred system roots at start.
pub fn subject_of(der: &[u8]) -> Option<String> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    Some(cert.subject().to_string())
}

/// Reads every certificate in `data`, which may be a PEM bundle or a single DER certificate.
pub fn read_certificates(data: &[u8]) -> FileContents {
    let is_pem = data.windows(11).any(|w| w == b"-----BEGIN ");
    if !is_pem {
        let mut out = FileContents::default();
        if data.first() == Some(&0x30) {
            match parse_der(data) {
                Ok(record) => out.certs.push(ParsedCert {
                    der: data.to_vec(),
                    record,
                    line: None,
                }),
                Err(e) => out.problems.push(e),
            }
        } else {
            out.problems.push(X509Error::NotACertificate);
        }
        return out;
    }
    read_pem(data)
}

fn read_pem(data: &[u8]) -> FileContents {
    let mut out = FileContents::default();
    for block in pem_blocks(data) {
        let block = match block {
            Ok(b) => b,
            Err(e) => {
                out.problems.push(e);
                continue;
            }
        };
        if block.label.contains("PRIVATE KEY") {
            out.private_keys += 1;
            continue;
        }
        if !matches!(
            block.label.as_str(),
            "CERTIFICATE" | "TRUSTED CERTIFICATE" | "X509 CERTIFICATE"
        ) {
            continue;
        }
        let decoded = Pem::iter_from_buffer(block.text).next();
        let pem = match decoded {
            Some(Ok(pem)) => pem,
            Some(Err(e)) => {
                out.problems.push(X509Error::Pem {
                    line: block.line,
                    reason: format!("{} block is not valid base64 ({e})", block.label),
                });
                continue;
            }
            None => {
                out.problems.push(X509Error::Pem {
                    line: block.line,
                    reason: format!("{} block is empty", block.label),
                });
                continue;
            }
        };
        match parse_der(&pem.contents) {
            Ok(record) => out.certs.push(ParsedCert {
                der: pem.contents,
                record,
                line: Some(block.line),
            }),
            Err(e) => out.problems.push(X509Error::Pem {
                line: block.line,
                reason: e.to_string(),
            }),
        }
    }
    if out.certs.is_empty() && out.problems.is_empty() && out.private_keys == 0 {
        out.problems.push(X509Error::NotACertificate);
    }
    out
}

struct PemBlock<'a> {
    label: String,
    line: usize,
    text: &'a [u8],
}

/// Splits PEM text into blocks, remembering the line each starts on.
fn pem_blocks(data: &[u8]) -> Vec<Result<PemBlock<'_>, X509Error>> {
    let mut blocks = Vec::new();
    let mut open: Option<(String, usize, usize)> = None; // label, line, byte offset
    let mut offset = 0;
    for (index, raw_line) in data.split_inclusive(|b| *b == b'\n').enumerate() {
        let line_no = index + 1;
        let line = String::from_utf8_lossy(raw_line);
        let line = line.trim();
        if let Some(label) = marker(line, "-----BEGIN ") {
            if let Some((label, start_line, _)) = open.take() {
                blocks.push(Err(X509Error::Pem {
                    line: start_line,
                    reason: format!("{label} block has no END line before line {line_no}"),
                }));
            }
            open = Some((label, line_no, offset));
        } else if let Some(label) = marker(line, "-----END ") {
            match open.take() {
                Some((begin_label, start_line, start)) if begin_label == label => {
                    blocks.push(Ok(PemBlock {
                        label,
                        line: start_line,
                        text: &data[start..offset + raw_line.len()],
                    }));
                }
                Some((begin_label, start_line, _)) => blocks.push(Err(X509Error::Pem {
                    line: start_line,
                    reason: format!("{begin_label} block ends with END {label} on line {line_no}"),
                })),
                None => blocks.push(Err(X509Error::Pem {
                    line: line_no,
                    reason: format!("END {label} without a BEGIN line"),
                })),
            }
        }
        offset += raw_line.len();
    }
    if let Some((label, start_line, _)) = open {
        blocks.push(Err(X509Error::Pem {
            line: start_line,
            reason: format!("{label} block is truncated (no END line)"),
        }));
    }
    blocks
}

fn marker(line: &str, prefix: &str) -> Option<String> {
    let label = line.strip_prefix(prefix)?.strip_suffix("-----")?;
    Some(label.to_string())
}

fn record_of(cert: &X509Certificate<'_>, der: &[u8]) -> CertRecord {
    let mut sans = Vec::new();
    let mut authority_key_id = None;
    let mut subject_key_id = None;
    let mut ocsp_urls = Vec::new();
    let mut ca_issuer_urls = Vec::new();
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(san) => {
                for name in &san.general_names {
                    match name {
                        GeneralName::DNSName(dns) => sans.push(dns.to_ascii_lowercase()),
                        GeneralName::IPAddress(bytes) => {
                            if let Some(ip) = ip_from_bytes(bytes) {
                                sans.push(ip.to_string());
                            }
                        }
                        _ => {}
                    }
                }
            }
            ParsedExtension::AuthorityKeyIdentifier(aki) => {
                authority_key_id = aki.key_identifier.as_ref().map(|k| hex::encode(k.0));
            }
            ParsedExtension::SubjectKeyIdentifier(ski) => subject_key_id = Some(hex::encode(ski.0)),
            ParsedExtension::AuthorityInfoAccess(aia) => {
                for desc in &aia.accessdescs {
                    if let GeneralName::URI(uri) = desc.access_location {
                        if desc.access_method == OID_PKIX_ACCESS_DESCRIPTOR_OCSP {
                            ocsp_urls.push(uri.to_string());
                        } else if desc.access_method == OID_PKIX_ACCESS_DESCRIPTOR_CA_ISSUERS {
                            ca_issuer_urls.push(uri.to_string());
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let subject = cert.subject().to_string();
    let issuer = cert.issuer().to_string();
    let self_issued = cert.subject().as_raw() == cert.issuer().as_raw();
    let self_signed = self_issued && cert.verify_signature(None).is_ok();
    let registry = oid_registry();
    let sig_oid = cert.signature_algorithm.algorithm.to_id_string();
    let signature_algorithm = match sig_oid.as_str() {
        // Legacy algorithms the registry does not name; they must be recognisable as weak.
        "1.2.840.10045.4.1" => "ecdsa-with-SHA1".to_string(),
        "1.2.840.10040.4.3" => "dsa-with-SHA1".to_string(),
        "1.2.840.113549.1.1.2" => "md2WithRSAEncryption".to_string(),
        // Chinese national standard (GB/T 32918, GM/T 0006): SM2 signature over an SM3 digest.
        "1.2.156.10197.1.501" => "SM2-with-SM3".to_string(),
        _ => oid2sn(&cert.signature_algorithm.algorithm, registry)
            .map(str::to_string)
            .unwrap_or(sig_oid),
    };
    CertRecord {
        subject,
        subject_cn: first_cn(cert.subject()),
        sans,
        issuer,
        issuer_cn: first_cn(cert.issuer()).or_else(|| first_org(cert.issuer())),
        serial: hex::encode(cert.raw_serial()),
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        key: key_info(cert),
        signature_algorithm,
        sha256: sha256_hex(der),
        authority_key_id,
        subject_key_id,
        ocsp_urls,
        ca_issuer_urls,
        is_ca: cert.is_ca(),
        self_signed,
    }
}

fn first_cn(name: &X509Name<'_>) -> Option<String> {
    name.iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_string)
}

fn first_org(name: &X509Name<'_>) -> Option<String> {
    name.iter_organization()
        .next()
        .and_then(|o| o.as_str().ok())
        .map(str::to_string)
}

/// The SM2 curve (sm2p256v1), as the named curve of an EC key or as the key's own algorithm.
const SM2_CURVE: &str = "1.2.156.10197.1.301";

fn sm2_key() -> KeyInfo {
    KeyInfo {
        algorithm: "SM2".into(),
        bits: 256,
        curve: None,
    }
}

fn key_info(cert: &X509Certificate<'_>) -> KeyInfo {
    let spki = cert.public_key();
    let oid = spki.algorithm.algorithm.to_id_string();
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => KeyInfo {
            algorithm: "RSA".into(),
            bits: rsa.key_size() as u32,
            curve: None,
        },
        Ok(PublicKey::EC(point)) => {
            let curve_oid = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string())
                .unwrap_or_default();
            let (curve, bits) = match curve_oid.as_str() {
                "1.2.840.10045.3.1.7" => ("P-256".to_string(), 256),
                "1.3.132.0.34" => ("P-384".to_string(), 384),
                "1.3.132.0.35" => ("P-521".to_string(), 521),
                "1.2.840.10045.3.1.1" => ("P-192".to_string(), 192),
                "1.3.132.0.33" => ("P-224".to_string(), 224),
                "1.3.132.0.10" => ("secp256k1".to_string(), 256),
                SM2_CURVE => return sm2_key(),
                other => (other.to_string(), point.key_size() as u32),
            };
            KeyInfo {
                algorithm: "EC".into(),
                bits,
                curve: Some(curve),
            }
        }
        Ok(PublicKey::DSA(y)) => KeyInfo {
            algorithm: "DSA".into(),
            bits: (y.len() * 8) as u32,
            curve: None,
        },
        _ => match oid.as_str() {
            SM2_CURVE => sm2_key(),
            "1.3.101.112" => KeyInfo {
                algorithm: "Ed25519".into(),
                bits: 256,
                curve: None,
            },
            "1.3.101.113" => KeyInfo {
                algorithm: "Ed448".into(),
                bits: 456,
                curve: None,
            },
            _ => KeyInfo {
                algorithm: oid,
                bits: 0,
                curve: None,
            },
        },
    }
}

fn ip_from_bytes(bytes: &[u8]) -> Option<std::net::IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(std::net::IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(std::net::IpAddr::from),
        _ => None,
    }
}

/// The DER SubjectPublicKeyInfo of a certificate, to check that a key matches it.
pub fn public_key_der(der: &[u8]) -> Result<Vec<u8>, X509Error> {
    let (_, cert) = X509Certificate::from_der(der).map_err(|e| X509Error::Der(e.to_string()))?;
    Ok(cert.public_key().raw.to_vec())
}

/// Lower-case hex SHA-256 of `der`: the certificate fingerprint used everywhere.
pub fn sha256_hex(der: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, der))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate as (DER, PEM).
    fn make(names: &[&str]) -> (Vec<u8>, String) {
        let key = rcgen::KeyPair::generate().expect("key");
        let params =
            rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .expect("params");
        let cert = params.self_signed(&key).expect("cert");
        (cert.der().to_vec(), cert.pem())
    }

    fn make_cert(names: &[&str]) -> Vec<u8> {
        make(names).0
    }

    fn pem_of_new(names: &[&str]) -> String {
        make(names).1
    }

    #[test]
    fn reads_der_and_fields() {
        let der = make_cert(&["a.example", "127.0.0.1"]);
        let r = parse_der(&der).expect("parses");
        assert_eq!(r.sans, vec!["a.example", "127.0.0.1"]);
        assert_eq!(r.key.curve.as_deref(), Some("P-256"));
        assert_eq!(r.signature_algorithm, "ecdsa-with-SHA256");
        assert!(r.self_signed);
        assert_eq!(r.sha256, sha256_hex(&der));
        assert_eq!(r.sha256.len(), 64);
    }

    #[test]
    fn reads_bundle_and_skips_keys() {
        let text = format!(
            "subject=junk\n{}-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n{}",
            pem_of_new(&["a.example"]),
            pem_of_new(&["b.example"])
        );
        let out = read_certificates(text.as_bytes());
        assert_eq!(out.certs.len(), 2);
        assert_eq!(out.private_keys, 1);
        assert!(out.problems.is_empty());
        assert_eq!(out.certs[0].line, Some(2));
    }

    #[test]
    fn truncated_pem_names_the_line() {
        let a = pem_of_new(&["a.example"]);
        let cut = &a[..a.len() / 2];
        let text = format!("\n\n{cut}");
        let out = read_certificates(text.as_bytes());
        assert!(out.certs.is_empty());
        assert_eq!(
            out.problems,
            vec![X509Error::Pem {
                line: 3,
                reason: "CERTIFICATE block is truncated (no END line)".into()
            }]
        );
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        let out = read_certificates(b"hello world\n");
        assert_eq!(out.problems, vec![X509Error::NotACertificate]);
        let out = read_certificates(&[0x30, 0x03, 0x01, 0x02]);
        assert!(matches!(out.problems[0], X509Error::Der(_)));
    }

    #[test]
    fn bad_base64_is_reported() {
        let text = "-----BEGIN CERTIFICATE-----\n!!!!notbase64\n-----END CERTIFICATE-----\n";
        let out = read_certificates(text.as_bytes());
        assert_eq!(out.problems.len(), 1);
        assert!(out.problems[0].to_string().starts_with("line 1:"));
    }
}
