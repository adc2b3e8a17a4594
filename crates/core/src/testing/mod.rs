//! Test support shared by the store crates (feature `testing`): the behaviour every storage
//! backend must show, run against each of them.

pub mod client_contract;
pub mod mfa_contract;
pub mod store_contract;
