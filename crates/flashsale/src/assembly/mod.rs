//! How each mode puts the engine together: the services behind the gateway,
//! what start-up found, and the background work with its stop order. No
//! mode serves; [`crate::engine`] and [`crate::services`] bind and run what
//! they return.
//!
//! - [`embedded`]: `flashsale up` with no store URLs (memory and SQLite).
//! - [`stack`]: `flashsale up` on Redis, RabbitMQ and PostgreSQL, and the
//!   parts each service process takes from it.
//! - [`gateway`]: `flashsale gateway`, the public API over the service processes.

pub mod embedded;
pub mod gateway;
pub mod stack;

use flashsale_gateway::Services;

use crate::lifecycle::Background;

/// An assembled mode, ready to be bound.
pub struct Assembled {
    pub services: Services,
    /// Lines for the start-up banner: the mode, what was restored.
    pub summary: Vec<String>,
    pub background: Background,
}
