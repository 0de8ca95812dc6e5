//! Serving a fair start's draw (issue 19, `docs/fair-start.md`): once the
//! window closed, every entry is decided by the ordinary purchase path, in
//! the drawn order, and its answer recorded for the buyer who waits.
//!
//! Any number of processes may serve the same draw, and one may die at any
//! point: the answers of a run of positions are recorded only from the
//! position the server read (so each position is recorded once), and an
//! entry reserved by a server that died before recording is reserved again
//! with the same idempotency key, which gives its first answer back (so each
//! entry is decided once).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use futures_util::{stream, StreamExt};

use flashsale_domain::ports::{DrawAnswer, DrawEntry, DrawPhase, DrawStatus, DrawStore};
use flashsale_domain::{
    draw_order, DrawSeed, Event, EventKind, EventSink, SaleId, Severity, StoreError, UserId,
};

use crate::service::{InventoryService, PurchaseError};

/// Entries decided between two records of the served position.
const RUN: usize = 1_000;
/// Entries of a run under way at once: decided in the drawn order (each
/// purchase takes its units when it is first polled, and they are polled
/// in order), made durable together (one group commit, one batch).
const IN_FLIGHT: usize = 256;

/// Why a draw could not be served to the end this time; the next call
/// resumes where it stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The purchase path refused to decide (a store unavailable, the
    /// engine shedding load): nothing of that entry was recorded.
    #[error("an entry could not be decided: {0}")]
    Purchase(PurchaseError),
    #[error("the closed draw of sale {0} has no seed")]
    NoSeed(SaleId),
    #[error("the draw of sale {0} counts {1} entrants, and {2} entries were read")]
    Entrants(SaleId, u64, usize),
}

/// Closes draws and serves them.
pub struct DrawServer {
    inventory: Arc<InventoryService>,
    draws: Arc<dyn DrawStore>,
}

impl DrawServer {
    pub fn new(inventory: Arc<InventoryService>, draws: Arc<dyn DrawStore>) -> Self {
        Self { inventory, draws }
    }

    /// Closes `sale`'s draw (with a fresh seed, unless a process closed it
    /// already) and serves every entry not served yet; returns the draw as
    /// it ends. Safe to call from several processes at once, and again
    /// after any failure.
    pub async fn close_and_serve(&self, sale: SaleId) -> Result<DrawStatus, ServeError> {
        let mut status = self.draws.close(sale, fresh_seed()).await?;
        if status.phase == DrawPhase::Served {
            return Ok(status);
        }
        let seed = status.seed.ok_or(ServeError::NoSeed(sale))?;
        let mut entries: HashMap<UserId, DrawEntry> = self
            .draws
            .entries(sale)
            .await?
            .into_iter()
            .map(|e| (e.user_id.clone(), e))
            .collect();
        if entries.len() as u64 != status.entrants {
            return Err(ServeError::Entrants(sale, status.entrants, entries.len()));
        }
        let order = draw_order(&seed, entries.keys().cloned().collect());
        while status.served < status.entrants {
            let from = status.served as usize;
            let run = &order[from..(from + RUN).min(order.len())];
            let run: Vec<DrawEntry> = run.iter().filter_map(|u| entries.remove(u)).collect();
            let answers = self.decide(sale, run).await?;
            status.served = self.draws.record(sale, status.served, &answers).await?;
        }
        status.phase = DrawPhase::Served;
        Ok(status)
    }

    /// Decides `entries` in their order with the purchase path.
    async fn decide(
        &self,
        sale: SaleId,
        entries: Vec<DrawEntry>,
    ) -> Result<Vec<(UserId, DrawAnswer)>, ServeError> {
        let decided: Vec<(UserId, Result<DrawAnswer, PurchaseError>)> = stream::iter(entries)
            .map(|entry| async move {
                let answer = self
                    .inventory
                    .purchase_as(
                        entry.order_id,
                        sale,
                        entry.user_id.clone(),
                        entry.quantity,
                        Some(entry.idempotency_key),
                    )
                    .await;
                let answer = match answer {
                    Ok(receipt) => Ok(DrawAnswer::Accepted {
                        order_id: receipt.order_id,
                        remaining: receipt.remaining,
                    }),
                    Err(PurchaseError::Rejected(refusal)) => Ok(DrawAnswer::Refused(refusal)),
                    Err(other) => Err(other),
                };
                (entry.user_id, answer)
            })
            .buffered(IN_FLIGHT)
            .collect()
            .await;
        decided
            .into_iter()
            .map(|(user, answer)| answer.map(|a| (user, a)).map_err(ServeError::Purchase))
            .collect()
    }
}

/// How often [`run_draws`] looks for windows that closed.
const DRAW_TICK: Duration = Duration::from_millis(100);

/// Serves the draws of the fair starts this process has seen, as each
/// window closes, until `stop` resolves; each served draw goes to the
/// event log with its entrants and seed. Every process that took an entry
/// or an attempt of a sale serves its draw: several at once are safe (see
/// the module docs), and a draw nobody entered is closed all the same, so
/// that the buyers who came after it buy.
pub async fn run_draws(
    inventory: Arc<InventoryService>,
    events: Arc<dyn EventSink>,
    stop: impl Future<Output = ()>,
) {
    let Some(fair) = inventory.fair_starts() else {
        return;
    };
    let server = DrawServer::new(inventory.clone(), fair.draws().clone());
    let mut tick = tokio::time::interval(DRAW_TICK);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = tick.tick() => {}
        }
        for sale in fair.due(Utc::now()) {
            match server.close_and_serve(sale).await {
                Ok(status) => {
                    fair.served(sale);
                    let seed = status.seed.map(|s| s.to_hex()).unwrap_or_default();
                    events.emit(
                        Event::new(
                            EventKind::SaleState,
                            Severity::Info,
                            format!(
                                "Opening draw served: {} entrants, in the order of seed {seed}.",
                                status.entrants
                            ),
                        )
                        .for_sale(sale),
                    );
                }
                Err(error) => {
                    tracing::warn!(message = "Could not serve a draw yet.", sale = %sale, %error);
                }
            }
        }
    }
}

/// 32 bytes from the operating system's generator: a seed nobody who
/// entered can know before the window closed.
fn fresh_seed() -> DrawSeed {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random generator answers");
    DrawSeed::from_bytes(bytes)
}
