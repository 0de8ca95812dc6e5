//! The chaos suite: FlashSale's production topology (product, order,
//! inventories, gateways, each its own process) on private Redis, RabbitMQ
//! and PostgreSQL servers, a stampede of buyers who retry with their
//! `Idempotency-Key`, one fault injected and healed, and then every
//! invariant of DESIGN.md checked from the stores themselves.
//!
//! # Layout
//! - [`stores`]: private Redis, PostgreSQL and RabbitMQ servers that the
//!   suite may kill, stop, pause and start again.
//! - [`proxy`]: a TCP proxy between a service and a store: latency, a cut
//!   (close or blackhole), the heal.
//! - [`process`]: one engine process, killed, paused and restarted on the
//!   same address.
//! - [`topology`]: product, order, N inventories, M gateways.
//! - [`http`]: a lean keep-alive HTTP/1.1 client.
//! - [`jwt`]: buyer tokens, and bad ones for the bad-input tests.
//! - [`buyers`]: the stampede, with idempotent retries.
//! - [`stores_view`]: what PostgreSQL, Redis and RabbitMQ hold about a sale.
//! - [`report`]: the judgement of one scenario, and the table.
//! - [`scenario`]: the faults and the runner.
//! - [`bad_input`]: generators of malformed requests for the property test
//!   of the HTTP API.
//!
//! `flashsale-chaos` (src/main.rs) runs a list of scenarios and prints the
//! table; `scripts/chaos` runs all of them.

pub mod bad_input;
pub mod buyers;
pub mod http;
pub mod jwt;
pub mod process;
pub mod proxy;
pub mod report;
pub mod scenario;
pub mod stores;
pub mod stores_view;
pub mod topology;

/// Re-exported for the engine's bad-input property test.
pub use proptest;

/// Why the suite could not do something (start a store, reach a process):
/// the scenario is aborted and reported as failed.
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
