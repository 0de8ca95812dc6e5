//! The private servers this test binary shares (see `flashsale_testkit::stores::shared`).

pub use flashsale_testkit::stores::shared::*;

/// A units-back subscriber on `store` (what it hears, in order), and one
/// reservation made in a fresh sale of 5 units, heard nothing yet.
pub async fn listening_with_a_reservation(
    store: &flashsale_stack::RedisStock,
) -> (
    tokio::task::JoinHandle<()>,
    tokio::sync::mpsc::UnboundedReceiver<Option<flashsale_domain::SaleId>>,
    flashsale_domain::Reservation,
) {
    use flashsale_domain::{contract, SaleState, StockStore};
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let subscription = flashsale_stack::redis::subscribe_units_back(store.nodes().clone(), move |sale| {
        let _ = tx.send(sale);
    })
    .await
    .unwrap();
    let terms = contract::sale(SaleState::Active, 5, 2).terms();
    let sale = terms.id;
    store.load(terms).await.unwrap();
    let reservation = store
        .reserve(contract::request(sale, "a", 1, None))
        .await
        .unwrap()
        .reservation()
        .clone();
    while rx.try_recv().is_ok() {}
    (subscription, rx, reservation)
}

/// What the answers of a stampede on a small stock add up to.
#[derive(Debug, Default)]
pub struct Tally {
    /// Units reserved.
    pub sold: u64,
    pub reservations: u64,
    /// Answers telling the buyer to retry: units moving between a hot
    /// sale's buckets ([`flashsale_domain::ReserveError::UnitsMoving`]).
    pub retries: u64,
    pub per_user: std::collections::HashMap<String, u32>,
}

/// Counts the answers of `tasks`: reservations, the refusals a stampede on
/// a small stock expects and, where `retry_allowed`, the units-moving
/// "retry";
/// panics on anything else.
pub async fn tally(
    tasks: Vec<
        tokio::task::JoinHandle<Result<flashsale_domain::ReserveOutcome, flashsale_domain::ReserveError>>,
    >,
    retry_allowed: bool,
) -> Tally {
    use flashsale_domain::{PurchaseRejection, ReserveError};
    let mut tally = Tally::default();
    for task in tasks {
        match task.await.unwrap() {
            Ok(outcome) => {
                let r = outcome.reservation();
                tally.sold += u64::from(r.quantity.get());
                tally.reservations += 1;
                *tally.per_user.entry(r.user_id.to_string()).or_default() += r.quantity.get();
            }
            Err(ReserveError::Rejected(
                PurchaseRejection::SoldOut
                | PurchaseRejection::LimitExceeded { .. }
                | PurchaseRejection::NotEnoughStock { .. },
            )) => {}
            Err(ReserveError::UnitsMoving) if retry_allowed => tally.retries += 1,
            Err(other) => panic!("unexpected refusal: {other:?}"),
        }
    }
    tally
}
