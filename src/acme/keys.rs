//! Certificate private keys and CSRs, made with rcgen (ECDSA) and the `rsa` crate (RSA keys,
//! which ring cannot generate). Keys travel as PKCS#8 DER and are written as `PRIVATE KEY` PEM.

use rcgen::{CertificateParams, KeyPair};
use rsa::pkcs8::EncodePrivateKey;

use super::AcmeError;
use crate::config::acme::KeyType;

/// A certificate key in PKCS#8 DER.
pub struct CertKey {
    pub key_type: KeyType,
    pkcs8: Vec<u8>,
}

impl std::fmt::Debug for CertKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CertKey({}, <redacted>)", self.key_type.as_str())
    }
}

impl CertKey {
    /// Generates a fresh key.
    pub fn generate(key_type: KeyType) -> Result<CertKey, AcmeError> {
        let pkcs8 = match key_type {
            KeyType::EcdsaP256 => ecdsa(&rcgen::PKCS_ECDSA_P256_SHA256)?,
            KeyType::EcdsaP384 => ecdsa(&rcgen::PKCS_ECDSA_P384_SHA384)?,
            KeyType::Rsa2048 => rsa_key(2048)?,
            KeyType::Rsa3072 => rsa_key(3072)?,
            KeyType::Rsa4096 => rsa_key(4096)?,
        };
        Ok(CertKey { key_type, pkcs8 })
    }

    /// Reads a key written by [`CertKey::to_pem`].
    pub fn from_pem(pem: &str, key_type: KeyType) -> Result<CertKey, AcmeError> {
        let pair = KeyPair::from_pem_and_sign_algo(pem, algorithm(key_type))
            .map_err(|e| AcmeError::Key(format!("stored key is unusable: {e}")))?;
        Ok(CertKey {
            key_type,
            pkcs8: pair.serialize_der(),
        })
    }

    pub fn to_pem(&self) -> String {
        let body = base64_lines(&self.pkcs8);
        format!("-----BEGIN PRIVATE KEY-----\n{body}-----END PRIVATE KEY-----\n")
    }

    fn key_pair(&self) -> Result<KeyPair, AcmeError> {
        let der = rustls::pki_types::PrivatePkcs8KeyDer::from(self.pkcs8.as_slice());
        KeyPair::from_pkcs8_der_and_sign_algo(&der, algorithm(self.key_type))
            .map_err(|e| AcmeError::Key(e.to_string()))
    }

    /// The DER SubjectPublicKeyInfo of this key (compared with a certificate's).
    pub fn public_key_der(&self) -> Result<Vec<u8>, AcmeError> {
        Ok(rcgen::PublicKeyData::subject_public_key_info(
            &self.key_pair()?,
        ))
    }

    /// A DER CSR for `domains` (DNS names or IP addresses) signed by this key.
    pub fn csr(&self, domains: &[String]) -> Result<Vec<u8>, AcmeError> {
        let params = CertificateParams::new(domains.to_vec())
            .map_err(|e| AcmeError::Key(format!("cannot build a CSR: {e}")))?;
        let request = params
            .serialize_request(&self.key_pair()?)
            .map_err(|e| AcmeError::Key(format!("cannot sign the CSR: {e}")))?;
        Ok(request.der().to_vec())
    }
}

/// The DER SubjectPublicKeyInfo of a PEM private key of any supported type (to check that a
/// key file matches a certificate before deploying them).
pub fn public_key_of_pem(pem: &str) -> Result<Vec<u8>, AcmeError> {
    let pair = KeyPair::from_pem(pem)
        .map_err(|e| AcmeError::Key(format!("unreadable private key: {e}")))?;
    Ok(rcgen::PublicKeyData::subject_public_key_info(&pair))
}

fn algorithm(key_type: KeyType) -> &'static rcgen::SignatureAlgorithm {
    match key_type {
        KeyType::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
        KeyType::EcdsaP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
        KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096 => &rcgen::PKCS_RSA_SHA256,
    }
}

fn ecdsa(alg: &'static rcgen::SignatureAlgorithm) -> Result<Vec<u8>, AcmeError> {
    KeyPair::generate_for(alg)
        .map(|k| k.serialize_der())
        .map_err(|e| AcmeError::Key(e.to_string()))
}

fn rsa_key(bits: usize) -> Result<Vec<u8>, AcmeError> {
    let key = rsa::PrivateKey::new(&mut getrandom::SysRng, bits)
        .map_err(|e| AcmeError::Key(format!("RSA key generation failed: {e}")))?;
    key.to_pkcs8_der()
        .map(|d| d.as_bytes().to_vec())
        .map_err(|e| AcmeError::Key(format!("RSA key encoding failed: {e}")))
}

fn base64_lines(der: &[u8]) -> String {
    use base64::Engine;
    let text = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::with_capacity(text.len() + text.len() / 64 + 1);
    for chunk in text.as_bytes().chunks(64) {
        // base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_roundtrip_through_pem_and_sign_csrs() {
        for kt in [KeyType::EcdsaP256, KeyType::EcdsaP384, KeyType::Rsa2048] {
            let key = CertKey::generate(kt).expect("generate");
            let pem = key.to_pem();
            assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
            let again = CertKey::from_pem(&pem, kt).expect("reload");
            let csr = again
                .csr(&["a.example".into(), "127.0.0.1".into()])
                .expect("csr");
            assert!(csr.len() > 100);
            assert!(!format!("{key:?}").contains(&pem[30..60]));
        }
    }
}
