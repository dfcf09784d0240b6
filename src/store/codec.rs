//! Record encoding: one format-version byte, then postcard, of the store's own record types.
//!
//! The leading byte lets a future format change be detected per record, independently of the
//! schema version, and rejected with a clear message instead of being misread. What is encoded
//! is never a model type itself but its record form ([`Stored`]: `schema7.rs`), so that the
//! bytes change only with the schema.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The record format written by this build.
pub const RECORD_FORMAT: u8 = 1;

/// A type whose encoding is frozen with a schema (`schema7.rs`, `migrations/schema6.rs`) or owned
/// by the store: the only kinds of value [`encode`] and [`decode`] accept, so a model type can
/// never be written as it is.
pub trait Record {}

impl<T: Record> Record for Vec<T> {}
impl Record for i64 {}
impl Record for super::audit::AuditEntry {}
impl Record for super::alerts::StoreOutage {}
impl Record for super::alerts::NodeDown {}

pub fn encode<T: Serialize + Record>(value: &T) -> Vec<u8> {
    let mut out = vec![RECORD_FORMAT];
    // postcard only fails on writer errors; a Vec writer never fails for our plain data types.
    out.extend(postcard::to_stdvec(value).expect("postcard encoding into a Vec cannot fail"));
    out
}

/// A value the store keeps: it is written and read as its frozen record form.
pub trait Stored: Sized {
    type Record: Serialize + DeserializeOwned + Record;
    fn to_record(&self) -> Self::Record;
    fn from_record(record: Self::Record) -> Self;
}

/// Encodes `value` as its record form.
pub fn put<T: Stored>(value: &T) -> Vec<u8> {
    encode(&value.to_record())
}

/// Decodes a record form into its value.
pub fn get<T: Stored>(bytes: &[u8]) -> Result<T, String> {
    decode::<T::Record>(bytes).map(T::from_record)
}

/// Values that are their own record form (store-owned types, plain numbers).
macro_rules! stored_as_itself {
    ($($t:ty),*) => {$(
        impl Stored for $t {
            type Record = $t;
            fn to_record(&self) -> $t {
                self.clone()
            }
            fn from_record(record: $t) -> $t {
                record
            }
        }
    )*};
}

stored_as_itself!(
    i64,
    super::audit::AuditEntry,
    super::alerts::StoreOutage,
    super::alerts::NodeDown
);

impl<T: Stored> Stored for Vec<T> {
    type Record = Vec<T::Record>;
    fn to_record(&self) -> Self::Record {
        self.iter().map(Stored::to_record).collect()
    }
    fn from_record(record: Self::Record) -> Self {
        record.into_iter().map(T::from_record).collect()
    }
}

pub fn decode<T: DeserializeOwned + Record>(bytes: &[u8]) -> Result<T, String> {
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
        let v = vec![3i64, -7];
        let bytes = encode(&v);
        assert_eq!(decode::<Vec<i64>>(&bytes), Ok(v));
        let mut bad = bytes.clone();
        bad[0] = 9;
        assert!(decode::<Vec<i64>>(&bad).is_err());
        assert!(decode::<Vec<i64>>(&[]).is_err());
    }
}
