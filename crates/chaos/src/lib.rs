//! The chaos suite: FlashSale's production topology (product, order,
//! inventories, gateways, each its own process) on private Redis, RabbitMQ
//! and PostgreSQL servers, a stampede of buyers who retry with their
//! `Idempotency-Key`, one fault injected and healed, and then every
//! invariant of DESIGN.md checked from the stores themselves.
//!
//! The private stores (killed, paused and started again), the HTTP client
//! and the buyer tokens are `flashsale-testkit`'s; the Redis keys are
//! named with `flashsale-stack`'s own.
//!
//! # Layout
//! - [`proxy`]: a TCP proxy between a service and a store: latency, a cut
//!   (close or blackhole), the heal.
//! - [`process`]: one engine process, killed, paused and restarted on the
//!   same address.
//! - [`topology`]: product, order, N inventories, M gateways.
//! - [`buyers`]: the stampede, with idempotent retries.
//! - [`payer`]: the payment provider of the checkout scenarios.
//! - [`stores_view`]: what PostgreSQL, Redis and RabbitMQ hold about a sale.
//! - [`report`]: the judgement of one scenario, and the table.
//! - [`scenario`]: the scenarios, their runner, the
//!   faults and the stores changed by hand.
//! - [`bad_input`]: generators of malformed requests for the property test
//!   of the HTTP API.
//!
//! `flashsale-chaos` (src/main.rs) runs a list of scenarios and prints the
//! table; `scripts/chaos` runs all of them.

pub mod bad_input;
pub mod buyers;
pub mod payer;
pub mod process;
pub mod proxy;
pub mod report;
pub mod scenario;
pub mod stores_view;
pub mod topology;

/// Re-exported for the engine's bad-input property test.
pub use proptest;

/// Why the suite could not do something (start a store, reach a process):
/// the scenario is aborted and reported as failed.
pub use flashsale_testkit::Error;
