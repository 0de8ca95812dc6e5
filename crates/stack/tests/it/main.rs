//! Integration tests of the real stack against real, private servers (see
//! [`support`]). One test binary: one link step.

mod support;

mod buckets;
mod pipeline;
mod postgres;
mod product;
mod redis_cluster;
mod redis_stock;
mod transfers;
