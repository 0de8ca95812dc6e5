//! Private Redis, PostgreSQL and RabbitMQ servers (feature `stores`).
//!
//! - [`servers`]: the three servers in one folder, each started, killed,
//!   paused and started again at will: the chaos suite's and
//!   `scripts/topology`'s (through `flashsale-stores`).
//! - [`shared`]: the servers a test binary shares, each started on its
//!   first use, every test on a database and queue names of its own.
//! - [`cluster`]: a local Redis Cluster.

pub mod cluster;
pub mod servers;
pub mod shared;

pub use servers::{
    free_port, port_open, record_pid, signal, Fsync, Options, PostgresServer, RabbitServer, RedisServer,
    StoreEnv, Stores,
};
