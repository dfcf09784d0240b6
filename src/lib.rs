//! certctl: a certificate lifecycle manager.
//!
//! The flow the modules follow: sources ([`inventory`]) produce observations ([`model`]),
//! parsed by [`x509`], folded into records kept by [`store`], judged by [`policy`], and shown by
//! the surfaces ([`cli`]). [`service`] holds the operations every surface shares.

pub mod accounts;
pub mod acme;
pub mod alerts;
pub mod audit;
pub mod cli;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod deploy;
pub mod durable;
pub mod errors;
pub mod fleet;
pub mod http;
pub mod inventory;
pub mod lifecycle;
pub mod model;
pub mod ops;
pub mod policy;
pub mod process;
pub mod reload;
pub mod roots;
pub mod schedule;
pub mod service;
pub mod store;
pub mod verify;
pub mod x509;
