//! The engine over real sockets: the HTTP contract, stampedes, idempotency,
//! pause, restart and `kill -9`. One test binary (one link step).

mod support;

mod archive;
mod bench;
mod chaos;
mod checkout;
mod contract;
mod durability;
mod fair_start;
mod ledger;
mod shop;
mod stack;
mod stampede;
