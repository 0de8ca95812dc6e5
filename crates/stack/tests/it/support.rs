//! The private servers this test binary shares (see `flashsale_testkit::stores::shared`).

pub use flashsale_testkit::stores::shared::*;
