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
