//! Units of one sale moved between places on different slots, exactly once:
//! the building block of a hot sale whose stock is split into buckets on
//! several Redis Cluster masters (issue 17, `docs/hot-sale-buckets.md`).
//!
//! A transfer is two scripts on two slots, so it cannot be one atomic step.
//! It is made exactly once the way the outbox is:
//! 1. the **debit** (on the source) takes the units into the source's
//!    `moving` hash under the transfer's id, with the destination's tag;
//! 2. the **credit** (on the destination) adds them, once per id;
//! 3. the source **forgets** the id.
//!
//! A process that dies after the debit leaves the entry in `moving`;
//! [`Transfers::finish_pending`], run by anybody, credits and forgets it,
//! and crediting twice is a no-op. Every unit is in one place's stock, one
//! `moving` entry, or (between the credit and the forgetting) counted in
//! both, which can only delay a "sold out", never cause a wrong one.
//!
//! [`Transfers::nothing_left`] answers "sold out" only from two identical
//! readings of every place (stock, units moving out, a version every debit
//! and credit bumps): a single pass can miss a unit that moved from a
//! place not yet read into one already read.

use std::sync::Arc;

use redis::RedisResult;

use super::batch::{invoke_then_wait, REPLICAS_ACK_WAIT};
use super::conn::RedisConn;
use super::scripts::{scripts, Scripts};

/// An error when fewer than `wanted` replicas acknowledged.
fn not_held(acked: usize, wanted: usize) -> RedisResult<()> {
    if acked >= wanted {
        return Ok(());
    }
    Err((
        redis::ErrorKind::Client,
        "replicas did not acknowledge a transfer step",
        format!("{acked} of {wanted} within {REPLICAS_ACK_WAIT:?}"),
    )
        .into())
}

/// The keys of one place (a bucket, or a sale's pool), under one hash tag:
/// `fs:{<tag>}:…`, so a sale's bucket is a place with the sale's own keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// The hash tag, without its braces: a transfer's entry names its
    /// destination by it.
    pub tag: String,
    /// Integer: the units here.
    pub stock: String,
    /// Hash: transfer id → "units destination-tag", debited and not forgotten.
    pub moving: String,
    /// Set: the transfer ids debited from or credited to this place.
    pub applied: String,
    /// Integer: bumped by every debit and credit here.
    pub version: String,
    /// Present while the place is being rebuilt: nothing is debited then.
    pub fence: String,
}

impl Place {
    /// The place whose keys carry the hash tag `{tag}`.
    pub fn new(tag: impl Into<String>) -> Self {
        let tag = tag.into();
        Self {
            stock: format!("fs:{{{tag}}}:stock"),
            moving: format!("fs:{{{tag}}}:moving"),
            applied: format!("fs:{{{tag}}}:applied"),
            version: format!("fs:{{{tag}}}:version"),
            fence: format!("fs:{{{tag}}}:rebuild"),
            tag,
        }
    }
}

/// One reading of a place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlaceLook {
    pub stock: i64,
    /// Units debited from here and not yet forgotten.
    pub moving: i64,
    pub version: i64,
}

impl PlaceLook {
    /// Units here or on their way out of here.
    pub fn units(&self) -> i64 {
        self.stock + self.moving
    }
}

/// How many units a debit takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Amount {
    /// As many as there are, up to this many: a lease from a pool.
    UpTo(u64),
    /// At most half of the source (rounded up), up to this many: a steal
    /// that leaves the source something to sell.
    HalfUpTo(u64),
}

/// Transfers between the places of any sale, on one Redis or a cluster.
#[derive(Clone)]
pub struct Transfers {
    conn: RedisConn,
    scripts: Arc<Scripts>,
    /// Replicas that must hold a step before the next one is taken.
    replicas_ack: usize,
}

impl Transfers {
    pub fn new(conn: RedisConn) -> Self {
        Self {
            conn,
            scripts: scripts(),
            replicas_ack: 0,
        }
    }

    /// The same transfers, each step held by `replicas` replicas (`WAIT`)
    /// before the next is taken: a debit a failover could undo is never
    /// credited (units would be made), a credit it could undo is never
    /// forgotten (units would be lost). See `FLASHSALE_REDIS_REPLICAS_ACK`.
    pub fn with_replicas_ack(mut self, replicas: usize) -> Self {
        self.replicas_ack = replicas;
        self
    }

    /// Runs `call`, then (with replicas to wait for) `WAIT` in the same
    /// pipeline.
    async fn acknowledged<T: redis::FromRedisValue>(
        &self,
        call: &redis::ScriptInvocation<'_>,
    ) -> RedisResult<T> {
        let wanted = self.replicas_ack;
        if wanted == 0 {
            return call.invoke_async(&mut self.conn.clone()).await;
        }
        let (reply, acked) = invoke_then_wait(&self.conn, call, wanted).await?;
        not_held(acked, wanted)?;
        Ok(reply)
    }

    /// Moves units from `from` to `to` under the fresh id `id` (debit,
    /// credit, forget); the units moved, 0 if `from` had none. On an error
    /// the units may be on their way: [`Self::finish_pending`] delivers them,
    /// and the same call again with the same id is safe.
    pub async fn transfer(&self, id: &str, from: &Place, to: &Place, amount: Amount) -> RedisResult<u64> {
        let units = self.debit(id, from, to, amount).await?;
        if units > 0 {
            self.credit(id, to, units).await?;
            self.forget(id, from).await?;
        }
        Ok(units)
    }

    /// Step 1: takes the units out of `from`, bound for `to`.
    pub async fn debit(&self, id: &str, from: &Place, to: &Place, amount: Amount) -> RedisResult<u64> {
        let (most, how) = match amount {
            Amount::UpTo(n) => (n, "all"),
            Amount::HalfUpTo(n) => (n, "half"),
        };
        let mut call = self.scripts.transfer_debit.prepare_invoke();
        call.key(&from.stock)
            .key(&from.moving)
            .key(&from.applied)
            .key(&from.version)
            .key(&from.fence)
            .arg(id)
            .arg(most)
            .arg(how)
            .arg(&to.tag);
        self.acknowledged(&call).await
    }

    /// Step 2: adds `units` to `to`, unless this id was credited before;
    /// whether it was credited now.
    pub async fn credit(&self, id: &str, to: &Place, units: u64) -> RedisResult<bool> {
        let mut call = self.scripts.transfer_credit.prepare_invoke();
        call.key(&to.stock)
            .key(&to.applied)
            .key(&to.version)
            .arg(id)
            .arg(units);
        self.acknowledged(&call).await
    }

    /// Step 3: the source no longer counts the id's units as moving out.
    pub async fn forget(&self, id: &str, from: &Place) -> RedisResult<()> {
        redis::cmd("HDEL")
            .arg(&from.moving)
            .arg(id)
            .query_async(&mut self.conn.clone())
            .await
    }

    /// Finishes every transfer out of `from` that was debited and not
    /// forgotten, whoever debited it (a process may have died between the
    /// steps); the units credited now.
    pub async fn finish_pending(&self, from: &Place) -> RedisResult<u64> {
        // With replicas to wait for, the entries are read with a `WAIT`:
        // a debit its master could still lose is not credited.
        let mut read = redis::pipe();
        read.cmd("HGETALL").arg(&from.moving);
        if self.replicas_ack > 0 {
            read.cmd("WAIT")
                .arg(self.replicas_ack)
                .arg(REPLICAS_ACK_WAIT.as_millis() as u64);
        }
        let (pending, acked): (Vec<(String, String)>, Option<usize>) = if self.replicas_ack > 0 {
            let (pending, acked) = read.query_async(&mut self.conn.clone()).await?;
            (pending, Some(acked))
        } else {
            let (pending,) = read.query_async(&mut self.conn.clone()).await?;
            (pending, None)
        };
        if let Some(acked) = acked {
            not_held(acked, self.replicas_ack)?;
        }
        let mut credited = 0;
        for (id, entry) in pending {
            let Some((units, to)) = entry
                .split_once(' ')
                .and_then(|(n, to)| Some((n.parse().ok()?, to)))
            else {
                return Err((
                    redis::ErrorKind::UnexpectedReturnType,
                    "a malformed transfer entry",
                    entry,
                )
                    .into());
            };
            if self.credit(&id, &Place::new(to), units).await? {
                credited += units;
            }
            self.forget(&id, from).await?;
        }
        Ok(credited)
    }

    /// One reading of `place`.
    pub async fn look(&self, place: &Place) -> RedisResult<PlaceLook> {
        let (stock, moving, version): (i64, i64, i64) = self
            .scripts
            .place_look
            .key(&place.stock)
            .key(&place.moving)
            .key(&place.version)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(PlaceLook {
            stock,
            moving,
            version,
        })
    }

    /// One reading of every place, in order.
    pub async fn look_all(&self, places: &[Place]) -> RedisResult<Vec<PlaceLook>> {
        let mut all = Vec::with_capacity(places.len());
        for place in places {
            all.push(self.look(place).await?);
        }
        Ok(all)
    }

    /// Whether no unit is left in any of `places`: `Some(true)` only when
    /// two readings in a row were identical and found nothing (so at one
    /// moment between them nothing was anywhere), `Some(false)` when a
    /// reading found units, `None` when `readings` pairs of readings all
    /// differed (units kept moving: ask again).
    pub async fn nothing_left(&self, places: &[Place], readings: usize) -> RedisResult<Option<bool>> {
        for _ in 0..readings {
            let first = self.look_all(places).await?;
            if first.iter().any(|look| look.units() > 0) {
                return Ok(Some(false));
            }
            if self.look_all(places).await? == first {
                return Ok(Some(true));
            }
        }
        Ok(None)
    }
}
