//! The `flashsale` binary's library: settings, secrets and the assembly of
//! the engine, so that tests start the very engine the binary runs, on
//! port 0.
//!
//! # Layout
//! - [`settings`]: what every process is configured by (flags and `FLASHSALE_*`).
//! - [`secrets`]: the admin token, the JWT secret and the service token,
//!   given, or generated and kept in the data folder.
//! - [`assembly`]: each mode put together (embedded, stack, gateway),
//!   returning its services and its background tasks; none serves.
//! - [`lifecycle`]: the one way every process serves and stops: requests
//!   answered within a grace period, then the background tasks stopped in
//!   order, each within its bound.
//! - [`engine`]: `flashsale up` and `flashsale gateway`: the gateway bound
//!   over an assembled mode.
//! - [`services`]: one service per process (`flashsale product|inventory|order`).
//! - [`logs`]: log lines as text or JSON, with trace ids.
//! - [`open_files`]: the open-file limit raised to what the system allows.
//! - [`token`]: `flashsale token`, minting buyer JWTs.
//! - [`pay`]: `flashsale pay`, a signed payment webhook as a provider sends it.
//! - [`shop_webhooks`]: the ledger's events delivered to the shop.
//! - [`error`]: why a process did not start.

pub mod assembly;
pub mod engine;
pub mod error;
pub mod lifecycle;
pub mod logs;
pub mod open_files;
pub mod pay;
pub mod secrets;
pub mod services;
pub mod settings;
pub mod shop_webhooks;
pub mod token;

pub use engine::Engine;
pub use error::StartError;
pub use settings::Settings;
