//! Stock store adapters.

pub mod memory;
