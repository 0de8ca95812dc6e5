//! `flashsale bench`: load generators that measure the engine and then
//! check, through its API, that every invariant held. Their HTTP client is
//! `flashsale-testkit`'s (one keep-alive connection per worker).
//!
//! # Layout
//! - [`stampede`]: `flashsale bench stampede`: the ceiling, the stampede,
//!   the verification and the report.
//! - [`ceiling`]: the denominator (a bare axum server answering a JSON
//!   POST) and what a stampede cost Redis and PostgreSQL.
//! - [`checkout`]: `flashsale bench stampede --payment-window`: the
//!   stampede on a sale held while buyers pay, until every unit is paid.
//! - [`fairness`]: `flashsale bench fairness`: who wins a sale's opening
//!   second, fast buyers against slow ones, against a fair draw's range.
//! - [`draw`]: `flashsale bench draw`: a fair start's draw with 100,000
//!   waiting buyers: the engine's memory, the time to answer them all.
//! - [`history`]: `flashsale bench history`: a burst on a fresh engine, and
//!   again after many ended sales were archived; the ratio.
//! - [`race`]: `flashsale bench race`, the race-condition lab: six ways of
//!   keeping stock under the same contended workload.
//! - [`watchers`]: `flashsale bench watchers`: what buyers' pages watching
//!   a sale's live feed cost the engine.
//! - [`tokens`]: `flashsale bench tokens`: what verifying a buyer token
//!   costs, per algorithm, the first time and once remembered.
//! - [`report`]: the summary table and its JSON form.

pub mod ceiling;
pub mod checkout;
pub mod draw;
pub mod fairness;
pub mod history;
pub mod race;
pub mod report;
pub mod stampede;
pub mod tokens;
pub mod watchers;

pub use stampede::{run, StampedeArgs};
