//! A fair start's draw in the data folder's SQLite file (`draw_entries`,
//! `draws`): the embedded [`DrawStore`]. Each call is one immediate
//! transaction, the same steps as the Redis scripts.
//!
//! Its own connection commits with `synchronous = NORMAL`: an entry then
//! costs a write to the WAL, not an fsync, so an opening rush of entries is
//! not bound by the disk. A committed entry survives a `kill -9` of the
//! engine (the WAL is written); a crash of the host may lose the last
//! entries, whose requests died with it unanswered (their retries enter
//! again, or buy once the window closed). What a served entry was promised
//! is durable where every purchase's is: its order, committed by the order
//! writer with `synchronous = FULL`.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use flashsale_domain::ports::{DrawAnswer, DrawEntry, DrawPhase, DrawStatus, DrawStore, Entered};
use flashsale_domain::{DrawSeed, SaleId, StoreError, UserId};
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};

const STORE: &str = "sqlite";

fn store_error(e: impl ToString) -> StoreError {
    StoreError::new(STORE, e)
}

/// The draws of the embedded engine. Cheap to clone.
#[derive(Clone)]
pub struct SqliteDraws {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteDraws {
    /// Opens the (already migrated) database file.
    pub fn open(path: &Path) -> Result<Self, crate::database::DbError> {
        let conn = crate::database::open(path)?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `step` in one immediate transaction on a blocking thread.
    async fn step<T: Send + 'static>(
        &self,
        step: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().expect("draws lock poisoned");
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(store_error)?;
            let out = step(&tx)?;
            tx.commit().map_err(store_error)?;
            Ok(out)
        })
        .await
        .map_err(store_error)?
    }
}

fn status_row(tx: &Transaction<'_>, sale: &str) -> Result<Option<DrawStatus>, StoreError> {
    let row: Option<(String, String, u64, u64)> = tx
        .query_row(
            "SELECT phase, seed, entrants, served FROM draws WHERE sale_id = ?1",
            [sale],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()
        .map_err(store_error)?;
    let Some((phase, seed, entrants, served)) = row else {
        return Ok(None);
    };
    let bad = || store_error(format!("an unreadable draw of sale {sale}"));
    Ok(Some(DrawStatus {
        phase: DrawPhase::parse(&phase)
            .filter(|p| *p != DrawPhase::Open)
            .ok_or_else(bad)?,
        seed: Some(DrawSeed::parse(&seed).map_err(|_| bad())?),
        entrants,
        served,
    }))
}

fn entrants(tx: &Transaction<'_>, sale: &str) -> Result<u64, StoreError> {
    tx.query_row(
        "SELECT COUNT(*) FROM draw_entries WHERE sale_id = ?1",
        [sale],
        |r| r.get(0),
    )
    .map_err(store_error)
}

#[async_trait]
impl DrawStore for SqliteDraws {
    async fn enter(&self, sale: SaleId, entry: DrawEntry) -> Result<Entered, StoreError> {
        self.step(move |tx| {
            let sale = sale.to_string();
            if status_row(tx, &sale)?.is_some() {
                return Ok(Entered::Closed);
            }
            let user = entry.user_id.as_str();
            let first: Option<String> = tx
                .query_row(
                    "SELECT entry FROM draw_entries WHERE sale_id = ?1 AND user_id = ?2",
                    [&sale, user],
                    |r| r.get(0),
                )
                .optional()
                .map_err(store_error)?;
            let Some(first) = first else {
                tx.execute(
                    "INSERT INTO draw_entries (sale_id, user_id, entry) VALUES (?1, ?2, ?3)",
                    params![sale, user, entry.encode()],
                )
                .map_err(store_error)?;
                return Ok(Entered::Entry(entry));
            };
            let first = DrawEntry::decode(user, &first).map_err(store_error)?;
            if first.idempotency_key == entry.idempotency_key && first.quantity != entry.quantity {
                return Ok(Entered::KeyReused);
            }
            Ok(Entered::Entry(first))
        })
        .await
    }

    async fn close(&self, sale: SaleId, seed: DrawSeed) -> Result<DrawStatus, StoreError> {
        self.step(move |tx| {
            let sale = sale.to_string();
            if let Some(closed) = status_row(tx, &sale)? {
                return Ok(closed);
            }
            let entrants = entrants(tx, &sale)?;
            let phase = DrawPhase::after(0, entrants).as_str();
            tx.execute(
                "INSERT INTO draws (sale_id, phase, seed, entrants, served) VALUES (?1, ?2, ?3, ?4, 0)",
                params![sale, phase, seed.to_hex(), entrants],
            )
            .map_err(store_error)?;
            status_row(tx, &sale)?.ok_or_else(|| store_error("a draw closed and not found"))
        })
        .await
    }

    async fn entries(&self, sale: SaleId) -> Result<Vec<DrawEntry>, StoreError> {
        self.step(move |tx| {
            let mut query = tx
                .prepare("SELECT user_id, entry FROM draw_entries WHERE sale_id = ?1")
                .map_err(store_error)?;
            let rows = query
                .query_map([sale.to_string()], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })
                .map_err(store_error)?;
            rows.map(|row| {
                let (user, raw) = row.map_err(store_error)?;
                DrawEntry::decode(&user, &raw).map_err(store_error)
            })
            .collect()
        })
        .await
    }

    async fn record(
        &self,
        sale: SaleId,
        served: u64,
        answers: &[(UserId, DrawAnswer)],
    ) -> Result<u64, StoreError> {
        let answers: Vec<(String, String)> = answers
            .iter()
            .map(|(user, answer)| (user.as_str().to_owned(), answer.encode()))
            .collect();
        self.step(move |tx| {
            let sale = sale.to_string();
            let Some(draw) = status_row(tx, &sale)? else {
                return Ok(0);
            };
            if draw.phase != DrawPhase::Serving || draw.served != served {
                return Ok(draw.served);
            }
            let mut write = tx
                .prepare_cached("UPDATE draw_entries SET answer = ?3 WHERE sale_id = ?1 AND user_id = ?2")
                .map_err(store_error)?;
            for (user, answer) in &answers {
                write.execute(params![sale, user, answer]).map_err(store_error)?;
            }
            let position = served + answers.len() as u64;
            let phase = DrawPhase::after(position, draw.entrants).as_str();
            tx.execute(
                "UPDATE draws SET phase = ?2, served = ?3 WHERE sale_id = ?1",
                params![sale, phase, position],
            )
            .map_err(store_error)?;
            Ok(position)
        })
        .await
    }

    async fn answers(&self, sale: SaleId, users: &[UserId]) -> Result<Vec<Option<DrawAnswer>>, StoreError> {
        let users: Vec<String> = users.iter().map(|u| u.as_str().to_owned()).collect();
        self.step(move |tx| {
            let sale = sale.to_string();
            let mut read = tx
                .prepare_cached("SELECT answer FROM draw_entries WHERE sale_id = ?1 AND user_id = ?2")
                .map_err(store_error)?;
            users
                .iter()
                .map(|user| {
                    let answer: Option<String> = read
                        .query_row([&sale, user], |r| r.get(0))
                        .optional()
                        .map_err(store_error)?
                        .flatten();
                    answer
                        .map(|a| DrawAnswer::decode(&a).map_err(store_error))
                        .transpose()
                })
                .collect()
        })
        .await
    }

    async fn status(&self, sale: SaleId) -> Result<Option<DrawStatus>, StoreError> {
        self.step(move |tx| {
            let sale = sale.to_string();
            if let Some(closed) = status_row(tx, &sale)? {
                return Ok(Some(closed));
            }
            let entrants = entrants(tx, &sale)?;
            Ok((entrants > 0).then_some(DrawStatus {
                phase: DrawPhase::Open,
                seed: None,
                entrants,
                served: 0,
            }))
        })
        .await
    }

    async fn forget_draw(&self, sale: SaleId) -> Result<(), StoreError> {
        self.step(move |tx| {
            let sale = sale.to_string();
            tx.execute("DELETE FROM draw_entries WHERE sale_id = ?1", [&sale])
                .map_err(store_error)?;
            tx.execute("DELETE FROM draws WHERE sale_id = ?1", [&sale])
                .map_err(store_error)?;
            Ok(())
        })
        .await
    }
}
