//! Order queue adapters.

pub mod embedded;
