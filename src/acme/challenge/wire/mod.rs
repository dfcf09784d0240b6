//! The DNS wire protocol, spoken by certctl itself: RFC 2136 updates and the propagation check
//! of dns-01. hickory-client is used under this directory and nowhere else.

pub mod propagation;
pub mod rfc2136;
