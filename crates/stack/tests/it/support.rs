//! The private servers, from the crate's `testing` module.

pub use flashsale_stack::testing::*;
