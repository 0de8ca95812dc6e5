//! What FlashSale's tests, chaos suite, load generators and
//! `scripts/topology` share, so each recipe exists once.
//!
//! # Layout
//! - [`stores`] (feature `stores`): private Redis, PostgreSQL and RabbitMQ
//!   servers on ports of their own: started, killed (`kill -9`,
//!   `pg_ctl -m immediate`), paused (`SIGSTOP`) and started again on the
//!   same data ([`stores::Stores`]); and the ones a test binary shares
//!   ([`stores::shared`]).
//! - [`http`]: a lean keep-alive HTTP/1.1 client, reopened after any failure.
//! - [`tokens`]: buyer JWTs, valid ones and every kind of bad one.
//! - [`idp`]: a stand-in identity provider: RS256/ES256 keys, tokens and
//!   forgeries, and its JWKS served on a local port ([`idp::JwksServer`]).
//! - [`otlp`]: a stand-in trace collector (OTLP/HTTP with JSON bodies).
//!
//! `flashsale-stores` (src/main.rs) starts the three servers for a
//! topology of real processes and prints their URLs.

pub mod http;
pub mod idp;
pub mod otlp;
#[cfg(feature = "stores")]
pub mod stores;
pub mod tokens;

/// Why something could not be done (start a store, reach a process).
#[derive(Debug, Clone)]
pub struct Error(String);

impl Error {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }

    pub fn io(what: &str, e: std::io::Error) -> Self {
        Self(format!("{what}: {e}"))
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}
