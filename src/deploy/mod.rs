//! Putting certificate material on disk: the versioned layout that ACME issuance writes (and,
//! later, deploy targets and reload actions).

pub mod layout;

pub use layout::{DeployError, Layout};
