//! Putting certificate material where servers read it: the versioned layout that issuance
//! writes ([`layout`]), and deploy targets with pre-install lint, atomic install, reload actions,
//! verification and rollback ([`install`], [`reload`]).

pub mod install;
pub mod layout;
pub mod reload;

pub use install::{DeployFailure, Deployed, Material, deploy, lint};
pub use layout::{DeployError, Layout};
