//! Record encoding: one format-version byte, then postcard.
//!
//! The leading byte lets a future format change be detected per record, independently of the
//! schema version, and rejected with a clear message instead of being misread.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The record format written by this build.
pub const RECORD_FORMAT: u8 = 1;

pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = vec![RECORD_FORMAT];
    // postcard only fails on writer errors; a Vec writer never fails for our plain data types.
    out.extend(postcard::to_stdvec(value).expect("postcard encoding into a Vec cannot fail"));
    out
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    match bytes.split_first() {
        Some((&RECORD_FORMAT, body)) => postcard::from_bytes(body).map_err(|e| e.to_string()),
        Some((other, _)) => Err(format!(
            "record format {other} is not supported (expected {RECORD_FORMAT})"
        )),
        None => Err("empty record".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_rejects_unknown_format() {
        let v = vec![("a".to_string(), 3u32)];
        let bytes = encode(&v);
        assert_eq!(decode::<Vec<(String, u32)>>(&bytes), Ok(v));
        let mut bad = bytes.clone();
        bad[0] = 9;
        assert!(decode::<Vec<(String, u32)>>(&bad).is_err());
        assert!(decode::<Vec<(String, u32)>>(&[]).is_err());
    }
}
