//! The PostgreSQL adapters against a private server, each test on a
//! database of its own.

use flashsale_domain::contract;
use std::collections::HashMap;
use std::time::Duration;

use flashsale_domain::{Decision, OrderId, OrderStore, SaleId};
use flashsale_stack::postgres::{self, PgCatalog, PgOrderStore};
use sqlx::PgPool;

use crate::support;

/// A fresh, migrated database.
pub async fn database() -> PgPool {
    let pool = postgres::connect(&support::database_url().await, 8)
        .await
        .expect("connect");
    postgres::migrate(&pool).await.expect("migrate");
    pool
}

/// Migrations apply once, even when several processes race to apply them.
#[tokio::test]
async fn migrations_apply_once() {
    let url = support::database_url().await;
    let pool = postgres::connect(&url, 8).await.unwrap();
    let runs = futures_util::future::join_all((0..4).map(|_| postgres::migrate(&pool))).await;
    let mut applied: Vec<&str> = runs.into_iter().flat_map(|r| r.unwrap()).collect();
    applied.sort_unstable();
    assert_eq!(
        applied,
        postgres::migration_names(),
        "each migration applied exactly once"
    );
    assert!(postgres::migrate(&pool).await.unwrap().is_empty());
}

#[tokio::test]
async fn catalog_contract_holds() {
    contract::sale_catalog(&PgCatalog::new(database().await)).await;
}

#[tokio::test]
async fn order_store_contract_holds() {
    contract::order_store(&PgOrderStore::new(database().await)).await;
}

#[tokio::test]
async fn checkout_contract_holds() {
    let pool = database().await;
    contract::checkout(
        &PgCatalog::new(pool.clone()),
        &PgOrderStore::new(pool),
        tokio::time::sleep,
    )
    .await;
}

#[tokio::test]
async fn shop_outbox_contract_holds() {
    let pool = database().await;
    let store = PgOrderStore::new(pool.clone()).with_shop_events(true);
    contract::shop_outbox(&PgCatalog::new(pool), &store).await;
}

/// Payments and the expiry fired at the same instant on many orders, over
/// several connections: each order ends paid xor expired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_racing_the_expiry_each_win_or_lose_once() {
    let pool = database().await;
    let (catalog, store) = (PgCatalog::new(pool.clone()), PgOrderStore::new(pool));
    let (sale, ids, due) = contract::orders_awaiting_payment(&catalog, &store, 300).await;
    let start = (due - chrono::Duration::milliseconds(50) - chrono::Utc::now())
        .to_std()
        .unwrap_or_default();
    tokio::time::sleep(start).await;
    let (halves, rest) = ids.split_at(ids.len() / 2);
    let (a, b, expired) = tokio::join!(
        contract::pay_each(&store, halves),
        contract::pay_each(&store, rest),
        contract::expire_all(&store, sale, ids.len())
    );
    let paid: Vec<OrderId> = a.into_iter().chain(b).collect();
    contract::paid_xor_expired(&store, sale, &ids, &paid, &expired).await;
}

/// Overlapping batches inserted concurrently store every order once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_batches_store_each_order_once() {
    let store = PgOrderStore::new(database().await);
    let sale = SaleId::generate();
    let all: Vec<_> = (0..400)
        .map(|i| contract::reservation(sale, &format!("u{i}"), 1))
        .collect();
    let mut tasks = Vec::new();
    for k in 0..8 {
        let store = store.clone();
        let mut batch: Vec<_> = all.iter().skip(k * 30).take(200).cloned().collect();
        batch.reverse();
        tasks.push(tokio::spawn(async move { store.insert(&batch).await }));
    }
    let mut new = 0;
    for t in tasks {
        new += t.await.unwrap().unwrap().new;
    }
    let stored = store.totals(&[sale]).await.unwrap()[&sale].orders;
    assert_eq!(new, stored);
    assert_eq!(stored, 400, "the windows cover every reservation");
}

/// A reservation that cannot be stored is reported as permanent.
#[tokio::test]
async fn an_unstorable_batch_is_permanent() {
    let store = PgOrderStore::new(database().await);
    let mut r = contract::reservation(SaleId::generate(), "u", 1);
    r.remaining = u64::MAX;
    let err = store.insert(&[r]).await.unwrap_err();
    assert!(err.is_permanent(), "{err}");
}

/// A release racing the order's insert, many times, with random delays:
/// the ledger decides each id once. The insert and the void agree on who
/// won, and each id is exactly one row: an order or a void.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn void_racing_insert_decides_each_id_once() {
    let pool = database().await;
    let store = PgOrderStore::new(pool.clone());
    let sale = SaleId::generate();
    let all: Vec<_> = (0..300)
        .map(|i| contract::reservation(sale, &format!("r{i}"), 1))
        .collect();
    // xorshift: reproducible delays of 0-3 ms.
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut delay = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        Duration::from_micros(seed % 3_000)
    };
    let mut tasks = Vec::new();
    for chunk in all.chunks(10) {
        let (inserter, batch, wait) = (store.clone(), chunk.to_vec(), delay());
        let inserted = tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            let stored = inserter.insert(&batch).await.unwrap();
            batch
                .iter()
                .map(|r| {
                    let won = if stored.void.contains(&r.order_id) {
                        Decision::Void
                    } else {
                        Decision::Order
                    };
                    (r.order_id, won)
                })
                .collect::<Vec<_>>()
        });
        let voids: Vec<_> = chunk
            .iter()
            .map(|r| {
                let (store, r, wait) = (store.clone(), r.clone(), delay());
                tokio::spawn(async move {
                    tokio::time::sleep(wait).await;
                    (r.order_id, store.void(&r, "raced").await.unwrap())
                })
            })
            .collect();
        tasks.push((inserted, voids));
    }
    let mut seen: HashMap<OrderId, Decision> = HashMap::new();
    for (inserted, voids) in tasks {
        for (id, won) in inserted.await.unwrap() {
            seen.insert(id, won);
        }
        for void in voids {
            let (id, won) = void.await.unwrap();
            assert_eq!(seen[&id], won, "the insert and the void disagree on order {id}");
        }
    }
    let rows: Vec<(uuid::Uuid, String)> =
        sqlx::query_as("SELECT order_id, status FROM orders WHERE sale_id = $1")
            .bind(sale.as_uuid())
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(rows.len(), all.len(), "exactly one row per id");
    for (id, status) in rows {
        let expected = match seen[&OrderId::from_uuid(id)] {
            Decision::Order => "confirmed",
            Decision::Void => "void",
        };
        assert_eq!(status, expected, "order {id}");
    }
    let orders = seen.values().filter(|d| **d == Decision::Order).count() as u64;
    let totals = store
        .totals(&[sale])
        .await
        .unwrap()
        .get(&sale)
        .copied()
        .unwrap_or_default();
    assert_eq!(totals.orders, orders, "totals count orders, never voids");
    assert!(
        orders > 0 && orders < all.len() as u64,
        "both sides won some: {orders}"
    );
}

/// A migration that must alter `orders` while a long report reads it does
/// not stall the order writers behind its lock request: each attempt waits
/// at most `LOCK_WAIT`, lets them through, and tries again until the report
/// ends. (Waiting without a bound, it held every INSERT for as long as the
/// report ran.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_migration_does_not_stall_the_writers() {
    let pool = database().await;
    // The last migration, pending again.
    sqlx::raw_sql(
        "ALTER TABLE orders DROP CONSTRAINT orders_status_check,
             ADD CONSTRAINT orders_status_check CHECK (status IN ('pending', 'confirmed'));
         ALTER TABLE orders DROP COLUMN void_reason;
         DELETE FROM schema_migrations WHERE version = 3",
    )
    .execute(&pool)
    .await
    .unwrap();
    // A long report: it reads `orders` in a transaction for 6 s.
    let mut report = pool.begin().await.unwrap();
    sqlx::query("SELECT count(*) FROM orders")
        .execute(&mut *report)
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let migrating = tokio::spawn({
        let pool = pool.clone();
        async move { postgres::migrate(&pool).await }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    // A writer arriving while the migration waits gets through in time.
    let mut writer = pool.acquire().await.unwrap();
    sqlx::query("SET statement_timeout = '4s'")
        .execute(&mut *writer)
        .await
        .unwrap();
    let inserted = sqlx::query(
        "INSERT INTO orders (order_id, sale_id, user_id, quantity, status, remaining_after, created_at)
         VALUES (gen_random_uuid(), gen_random_uuid(), 'writer', 1, 'confirmed', 0, now())",
    )
    .execute(&mut *writer)
    .await;
    assert!(
        inserted.is_ok(),
        "the writer waited behind the migration: {inserted:?}"
    );
    drop(writer);
    tokio::time::sleep(Duration::from_secs(6).saturating_sub(started.elapsed())).await;
    report.rollback().await.unwrap();
    let applied = migrating.await.unwrap().unwrap();
    assert_eq!(applied, vec!["0003_void_orders"], "applied once the report ended");
}
