//! Buyers waiting in a fair start's draw (issue 19): one question to the
//! inventory per sale and per gateway, however many buyers wait.
//!
//! A purchase answered `InDraw` registers its buyer here and awaits a
//! oneshot. The first waiter of a sale starts a poller that, every
//! [`POLL`], asks the inventory where the waiting buyers stand, by
//! [`BATCH`]; hands each settled buyer its answer; and stops when nobody
//! waits. Each answer carries the draw's phase and served position: while
//! the draw is open, or when the position has not moved since the last
//! tick, the first batch's answer is the tick's only question. So 100,000
//! buyers waiting cost five small questions a second, not half a million,
//! and each buyer is looked up only when new entries were served. A
//! question that fails is asked again at the next tick (a store that
//! stalled must not send every waiter back at once); a waiter that gives
//! up (its client left, or its time is up) just drops its receiver, and
//! the poller forgets it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flashsale_domain::ports::DrawPhase;
use flashsale_domain::{SaleId, UserId};
use flashsale_inventory::DrawWait;
use tokio::sync::oneshot;

use crate::error::ApiError;
use crate::upstream::InventoryApi;

/// How often a sale's waiting buyers are asked about.
pub const POLL: Duration = Duration::from_millis(200);

/// Buyers asked about in one question.
pub const BATCH: usize = 1_000;

/// A sale's waiting buyers, and each buyer's waiting requests (a buyer
/// may wait on several: one entry, one answer for all).
#[derive(Default)]
struct Waiting {
    buyers: HashMap<UserId, Vec<oneshot::Sender<DrawWait>>>,
    /// A buyer came since the last look: it must be asked about even if
    /// the served position has not moved (its answer may be older).
    joined: bool,
}

/// Every sale's waiting buyers.
#[derive(Default)]
pub struct DrawWaiters {
    sales: Mutex<HashMap<SaleId, Waiting>>,
}

impl DrawWaiters {
    /// Waits until `user`'s entry in `sale`'s draw is settled: answered, or
    /// not entered once the draw is served (never [`DrawWait::Waiting`]).
    pub async fn wait(
        self: &Arc<Self>,
        inventory: &Arc<dyn InventoryApi>,
        sale: SaleId,
        user: UserId,
    ) -> Result<DrawWait, ApiError> {
        let (sender, receiver) = oneshot::channel();
        {
            let mut sales = self.sales.lock().expect("draw waiters lock poisoned");
            let start = !sales.contains_key(&sale);
            let waiting = sales.entry(sale).or_default();
            waiting.buyers.entry(user).or_default().push(sender);
            waiting.joined = true;
            if start {
                let (this, inventory) = (self.clone(), inventory.clone());
                tokio::spawn(async move { this.poll(sale, inventory).await });
            }
        }
        receiver
            .await
            .map_err(|_| ApiError::Unavailable("the draw's poller stopped".into()))
    }

    /// Buyers waiting now, for `/metrics`.
    pub fn waiting(&self) -> usize {
        self.sales
            .lock()
            .expect("draw waiters lock poisoned")
            .values()
            .map(|w| w.buyers.len())
            .sum()
    }

    /// Asks about `sale`'s waiting buyers every [`POLL`] while any waits.
    async fn poll(self: Arc<Self>, sale: SaleId, inventory: Arc<dyn InventoryApi>) {
        let mut interval = tokio::time::interval(POLL);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The served position every waiter was last asked about at (none:
        // some were never asked).
        let mut asked_at = None;
        loop {
            interval.tick().await;
            let users: Vec<UserId> = {
                let mut sales = self.sales.lock().expect("draw waiters lock poisoned");
                let Some(waiting) = sales.get_mut(&sale) else {
                    return;
                };
                waiting.buyers.retain(|_, senders| {
                    senders.retain(|s| !s.is_closed());
                    !senders.is_empty()
                });
                if waiting.buyers.is_empty() {
                    sales.remove(&sale);
                    return;
                }
                if std::mem::take(&mut waiting.joined) {
                    asked_at = None;
                }
                waiting.buyers.keys().cloned().collect()
            };
            for (i, batch) in users.chunks(BATCH).enumerate() {
                let answers = inventory.draw_wait(sale, batch).await;
                let mut sales = self.sales.lock().expect("draw waiters lock poisoned");
                let Some(waiting) = sales.get_mut(&sale) else {
                    return;
                };
                match answers {
                    Ok(answers) => {
                        let nothing_new = matches!(answers.phase, None | Some(DrawPhase::Open))
                            || (answers.phase == Some(DrawPhase::Serving)
                                && asked_at == Some(answers.served));
                        for (user, answer) in batch.iter().zip(answers.waits) {
                            if answer == DrawWait::Waiting {
                                continue;
                            }
                            for sender in waiting.buyers.remove(user).into_iter().flatten() {
                                let _ = sender.send(answer.clone());
                            }
                        }
                        if i == 0 {
                            if nothing_new {
                                break;
                            }
                            asked_at = Some(answers.served);
                        }
                    }
                    Err(error) => {
                        asked_at = None;
                        tracing::warn!(message = "Asking where the draw's waiting buyers stand failed; asking again.", sale = %sale, %error);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::time::Instant;

    use async_trait::async_trait;
    use flashsale_domain::ports::DrawAnswer;
    use flashsale_domain::{IdempotencyKey, PurchaseRejection, Quantity};
    use flashsale_inventory::{DrawWaits, PurchaseReceipt};

    use super::*;

    /// An inventory whose draw is open until `served`, then refuses every
    /// entry but buyer 0's, who did not enter; counts its questions.
    #[derive(Default)]
    struct Draw {
        questions: AtomicUsize,
        served: AtomicBool,
    }

    #[async_trait]
    impl InventoryApi for Draw {
        async fn purchase(
            &self,
            _: SaleId,
            _: UserId,
            _: Quantity,
            _: Option<IdempotencyKey>,
        ) -> Result<PurchaseReceipt, ApiError> {
            unreachable!("waiting buys nothing")
        }
        async fn draw_wait(&self, _: SaleId, users: &[UserId]) -> Result<DrawWaits, ApiError> {
            assert!(users.len() <= BATCH);
            self.questions.fetch_add(1, Ordering::SeqCst);
            let served = self.served.load(Ordering::SeqCst);
            Ok(DrawWaits {
                phase: Some(if served {
                    DrawPhase::Served
                } else {
                    DrawPhase::Open
                }),
                served: if served { 2_500 } else { 0 },
                waits: users
                    .iter()
                    .map(|u| match (served, u.as_str()) {
                        (false, _) => DrawWait::Waiting,
                        (true, "buyer-0") => DrawWait::NotEntered,
                        (true, _) => DrawWait::Answered(DrawAnswer::Refused(PurchaseRejection::SoldOut)),
                    })
                    .collect(),
            })
        }
        fn queue_depth(&self) -> u64 {
            0
        }
    }

    /// 2,500 buyers (3 batches) waiting about 0.6 s: one question per tick
    /// while the draw is open, where each buyer asking for itself would
    /// have made thousands; then each hears its own answer, and the poller
    /// stops.
    #[tokio::test]
    async fn thousands_of_waiters_cost_a_few_questions_a_tick() {
        let draw = Arc::new(Draw::default());
        let inventory: Arc<dyn InventoryApi> = draw.clone();
        let waiters = Arc::new(DrawWaiters::default());
        let sale = SaleId::generate();
        let started = Instant::now();
        let waiting: Vec<_> = (0..2_500)
            .map(|i| {
                let (waiters, inventory) = (waiters.clone(), inventory.clone());
                let user = UserId::parse(&format!("buyer-{i}")).unwrap();
                tokio::spawn(async move { waiters.wait(&inventory, sale, user).await.unwrap() })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(waiters.waiting(), 2_500);
        draw.served.store(true, Ordering::SeqCst);
        let answers = futures_util::future::join_all(waiting).await;
        let ticks = started.elapsed().as_millis() as usize / POLL.as_millis() as usize + 2;
        let questions = draw.questions.load(Ordering::SeqCst);
        assert!(questions <= ticks + 6, "{questions} questions in {ticks} ticks");
        for (i, answer) in answers.into_iter().enumerate() {
            let expected = match i {
                0 => DrawWait::NotEntered,
                _ => DrawWait::Answered(DrawAnswer::Refused(PurchaseRejection::SoldOut)),
            };
            assert_eq!(answer.unwrap(), expected, "buyer {i}");
        }
        tokio::time::sleep(POLL * 2).await;
        assert!(waiters.sales.lock().unwrap().is_empty(), "the poller stopped");
        assert_eq!(
            draw.questions.load(Ordering::SeqCst),
            questions,
            "and asks nothing more"
        );
    }
}
