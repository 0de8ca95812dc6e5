//! The chaos suite: FlashSale's production topology (product, order,
//! inventories, gateways, each its own process) on private Redis, RabbitMQ
//! and PostgreSQL servers, a stampede of buyers who retry with their
//! `Idempotency-Key`, one fault injected and healed, and then every
//! invariant of DESIGN.md checked from the stores themselves.
