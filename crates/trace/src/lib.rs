//! One trace per purchase, from the gateway through the inventory, the
//! relay and the consumer, exported over OTLP when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is
//! set, and costing nothing when it is not.
//!
//! The context crosses each hop as a W3C `traceparent`: an HTTP header from
//! the gateway to the inventory, a field beside the records of a Redis
//! outbox entry, and a header of the RabbitMQ message (one per reservation:
//! a message carries a batch).

mod export;
mod span;

pub use export::{install, TraceSettingsError, Traces};
pub use span::{current_ids, current_traceparent, enabled, Kind, Span};
