//! The simulated stampede the dashboard can launch: many buyers, each a
//! fresh user id, through the same purchase path as real buyers (minus
//! HTTP), counted in the same telemetry, so the operator sees stock fall
//! and orders rise live. One runs at a time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use flashsale_domain::{Event, EventKind, EventSink, Quantity, SaleId, Severity, UserId};
use futures_util::StreamExt;

use crate::error::ApiError;
use crate::state::AppState;

/// Purchases in flight at once during a simulation.
const CONCURRENCY: usize = 64;

/// A validated stampede request.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub buyers: u32,
    pub attempts: u32,
    pub quantity: Quantity,
}

impl Plan {
    pub const MAX_BUYERS: i64 = 100_000;
    pub const MAX_ATTEMPTS: i64 = 10;

    pub fn parse(buyers: i64, attempts: Option<i64>, quantity: Option<i64>) -> Result<Self, ApiError> {
        let buyers = u32::try_from(buyers)
            .ok()
            .filter(|b| (1..=Self::MAX_BUYERS).contains(&i64::from(*b)))
            .ok_or_else(|| {
                ApiError::InvalidRequest(format!("buyers must be between 1 and {}", Self::MAX_BUYERS))
            })?;
        let attempts = u32::try_from(attempts.unwrap_or(1))
            .ok()
            .filter(|a| (1..=Self::MAX_ATTEMPTS).contains(&i64::from(*a)))
            .ok_or_else(|| {
                ApiError::InvalidRequest(format!(
                    "attempts_per_buyer must be between 1 and {}",
                    Self::MAX_ATTEMPTS
                ))
            })?;
        let quantity =
            Quantity::parse(quantity.unwrap_or(1)).map_err(|e| ApiError::InvalidRequest(e.to_string()))?;
        Ok(Self {
            buyers,
            attempts,
            quantity,
        })
    }
}

/// Starts the simulation in the background.
pub fn launch(state: AppState, sale: SaleId, plan: Plan) -> Result<(), ApiError> {
    if state.0.stampede_running.swap(true, Ordering::SeqCst) {
        return Err(ApiError::StampedeRunning);
    }
    tokio::spawn(async move {
        run(&state, sale, plan).await;
        state.0.stampede_running.store(false, Ordering::SeqCst);
    });
    Ok(())
}

async fn run(state: &AppState, sale: SaleId, plan: Plan) {
    let run_id = &uuid::Uuid::now_v7().simple().to_string()[20..];
    let started = Instant::now();
    let accepted = AtomicU64::new(0);
    let total = u64::from(plan.buyers) * u64::from(plan.attempts);
    state.events().emit(
        Event::new(
            EventKind::Stampede,
            Severity::Info,
            format!(
                "Simulated stampede started: {} buyers × {} attempts.",
                plan.buyers, plan.attempts
            ),
        )
        .for_sale(sale),
    );
    let inventory = state.services().inventory.clone();
    futures_util::stream::iter(0..total)
        .for_each_concurrent(CONCURRENCY, |n| {
            let inventory = inventory.clone();
            let accepted = &accepted;
            async move {
                let buyer = n % u64::from(plan.buyers);
                let user =
                    UserId::parse(&format!("sim-{run_id}-{buyer}")).expect("simulated user ids are valid");
                let t = Instant::now();
                let refusal = match inventory.purchase(sale, user, plan.quantity, None).await {
                    Ok(_) => {
                        accepted.fetch_add(1, Ordering::Relaxed);
                        None
                    }
                    Err(e) => Some(e.code()),
                };
                state.telemetry().record_purchase(refusal, t.elapsed());
            }
        })
        .await;
    let elapsed = started.elapsed().as_secs_f64();
    state.events().emit(
        Event::new(
            EventKind::Stampede,
            Severity::Info,
            format!(
                "Simulated stampede finished: {total} attempts, {} accepted, in {elapsed:.2} s ({:.0} attempts/s).",
                accepted.load(Ordering::Relaxed),
                total as f64 / elapsed.max(1e-9)
            ),
        )
        .for_sale(sale),
    );
}
