//! The gate of a fair start (issue 19, `docs/fair-start.md`): which
//! purchase attempts go to a sale's opening draw instead of being decided
//! at once.
//!
//! A sale's draw window never changes once the sale exists, so each process
//! reads a sale's terms once (the first purchase it sees) and keeps its
//! gate; once it has seen the draw served, the gate is open for good and
//! costs a map look-up.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use flashsale_domain::ports::{DrawAnswer, DrawEntry, DrawPhase, DrawStore, Entered};
use flashsale_domain::{
    IdempotencyKey, OrderId, PurchaseRejection, Quantity, SaleId, StockStore, StoreError, UserId,
};

/// What a sale's gate says of a purchase attempt now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gate {
    /// No draw, or its draw is served: decide at once.
    Open,
    /// The sale has a draw from `opens` to `closes`, not known served.
    Draw {
        opens: DateTime<Utc>,
        closes: DateTime<Utc>,
        per_user_limit: u32,
    },
}

/// Where a buyer's attempt stands in a sale's draw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DrawWait {
    /// The entry was served: this is its answer.
    Answered(DrawAnswer),
    /// Not served yet.
    Waiting,
    /// The draw is served and the buyer has no entry (the window closed
    /// before the attempt entered): buy the ordinary way.
    NotEntered,
}

/// Where buyers' attempts stand in a sale's draw, and the draw itself: a
/// caller asking for many buyers skips its other questions while the draw
/// is open, or while the served position has not moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrawWaits {
    /// `None`: no draw yet (nobody entered).
    pub phase: Option<DrawPhase>,
    /// Entries served so far, in the drawn order.
    pub served: u64,
    /// One per buyer asked about, in their order.
    pub waits: Vec<DrawWait>,
}

/// What the gate did with an attempt.
pub(crate) enum Gated {
    /// Decide it now, as any purchase.
    Decide,
    /// It is the buyer's entry in the draw (or waits for the draw to be
    /// served): ask [`FairStarts::wait`] for its answer.
    InDraw,
    Refused(PurchaseRejection),
}

/// The draws of the sales this process has seen, and their gates.
pub struct FairStarts {
    draws: Arc<dyn DrawStore>,
    gates: Mutex<HashMap<SaleId, Gate>>,
    /// The sales whose draw this process has not seen served: what the
    /// server looks through, so its work follows the open draws, not every
    /// sale the process ever sold.
    pending: Mutex<HashMap<SaleId, DateTime<Utc>>>,
}

impl FairStarts {
    pub fn new(draws: Arc<dyn DrawStore>) -> Self {
        Self {
            draws,
            gates: Mutex::default(),
            pending: Mutex::default(),
        }
    }

    pub fn draws(&self) -> &Arc<dyn DrawStore> {
        &self.draws
    }

    fn gate_of(&self, sale: SaleId) -> Option<Gate> {
        self.gates
            .lock()
            .expect("gates lock poisoned")
            .get(&sale)
            .copied()
    }

    fn set_gate(&self, sale: SaleId, gate: Gate) {
        let mut pending = self.pending.lock().expect("pending draws lock poisoned");
        match gate {
            Gate::Draw { closes, .. } => pending.insert(sale, closes),
            Gate::Open => pending.remove(&sale),
        };
        self.gates.lock().expect("gates lock poisoned").insert(sale, gate);
    }

    /// Marks `sale`'s draw served: its gate is open for good.
    pub fn served(&self, sale: SaleId) {
        self.set_gate(sale, Gate::Open);
    }

    /// The sales this process saw whose window has closed at `now` and
    /// whose draw it has not seen served: the ones to serve.
    pub fn due(&self, now: DateTime<Utc>) -> Vec<SaleId> {
        self.pending
            .lock()
            .expect("pending draws lock poisoned")
            .iter()
            .filter(|(_, closes)| **closes <= now)
            .map(|(sale, _)| *sale)
            .collect()
    }

    /// Decides where `user`'s attempt goes at `now`; enters it in the draw
    /// when its window is open.
    pub(crate) async fn gate(
        &self,
        stock: &dyn StockStore,
        sale: SaleId,
        user: &UserId,
        quantity: Quantity,
        key: Option<&IdempotencyKey>,
        now: DateTime<Utc>,
    ) -> Result<Gated, StoreError> {
        let gate = match self.gate_of(sale) {
            Some(gate) => gate,
            None => {
                let gate = match stock.terms(sale).await? {
                    Some(terms) => match terms.draw_window() {
                        Some((opens, closes)) => Gate::Draw {
                            opens,
                            closes,
                            per_user_limit: terms.per_user_limit,
                        },
                        None => Gate::Open,
                    },
                    // Unknown here: the purchase path answers it.
                    None => return Ok(Gated::Decide),
                };
                self.set_gate(sale, gate);
                gate
            }
        };
        let Gate::Draw {
            opens,
            closes,
            per_user_limit,
        } = gate
        else {
            return Ok(Gated::Decide);
        };
        if now < opens {
            return Ok(Gated::Decide);
        }
        if now >= closes {
            // Served by another process already?
            if let Some(status) = self.draws.status(sale).await? {
                if status.phase == DrawPhase::Served {
                    self.served(sale);
                    return Ok(Gated::Decide);
                }
            }
        }
        if quantity.get() > per_user_limit {
            return Ok(Gated::Refused(PurchaseRejection::QuantityAboveLimit {
                limit: per_user_limit,
            }));
        }
        let entry = DrawEntry {
            user_id: user.clone(),
            order_id: OrderId::generate(),
            quantity,
            idempotency_key: key.cloned().unwrap_or_else(|| DrawEntry::key_for(user)),
        };
        Ok(match self.draws.enter(sale, entry).await? {
            Entered::Entry(_) | Entered::Closed => Gated::InDraw,
            Entered::KeyReused => Gated::Refused(PurchaseRejection::IdempotencyKeyReused),
        })
    }

    /// Where these buyers' attempts on `sale` stand in its draw, in their
    /// order: one read of the draw's status while it is open, whoever is
    /// asked for. The status is read before the answers: answers are
    /// recorded with the position that completes the draw, so a draw seen
    /// served has every answer, and a buyer with none did not enter (read
    /// the other way round, a winner whose answer landed between the two
    /// reads would be sent to buy again).
    pub async fn wait(&self, sale: SaleId, users: &[UserId]) -> Result<DrawWaits, StoreError> {
        let status = self.draws.status(sale).await?;
        let (phase, served_so_far) = (status.map(|s| s.phase), status.map_or(0, |s| s.served));
        let waits = if matches!(phase, None | Some(DrawPhase::Open)) {
            vec![DrawWait::Waiting; users.len()]
        } else {
            let served = phase == Some(DrawPhase::Served);
            if served {
                self.served(sale);
            }
            let answers = self.draws.answers(sale, users).await?;
            answers
                .into_iter()
                .map(|answer| match answer {
                    Some(answer) => DrawWait::Answered(answer),
                    None if served => DrawWait::NotEntered,
                    None => DrawWait::Waiting,
                })
                .collect()
        };
        Ok(DrawWaits {
            phase,
            served: served_so_far,
            waits,
        })
    }
}
