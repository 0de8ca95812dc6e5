//! A fair start's draw in Redis, under the sale's hash tag beside its
//! stock (`docs/fair-start.md`): the entries, the state once closed, the
//! answers. Each step is one script; each is safe to repeat, so each is
//! retried once when the connection dropped.

use async_trait::async_trait;
use flashsale_domain::ports::{DrawAnswer, DrawEntry, DrawPhase, DrawStatus, DrawStore, Entered};
use flashsale_domain::{DrawSeed, SaleId, StoreError, UserId};

use super::keys::SaleKeys;
use super::stock::{dropped, RedisStock};
use super::store_error;

/// Answers per `draw_record.lua` call: the script unpacks them into one
/// `HSET`, and Lua unpacks at most some 8,000 values.
const RECORD_CHUNK: usize = 1_000;

/// phase, seed, entrants, served, as `draw_close.lua` and
/// `draw_status.lua` answer them.
fn status(reply: &[String]) -> Result<DrawStatus, StoreError> {
    let bad = || store_error(format!("an unreadable draw state: {reply:?}"));
    let [phase, seed, entrants, served] = reply else {
        return Err(bad());
    };
    Ok(DrawStatus {
        phase: DrawPhase::parse(phase).ok_or_else(bad)?,
        seed: match seed.as_str() {
            "" => None,
            hex => Some(DrawSeed::parse(hex).map_err(|_| bad())?),
        },
        entrants: entrants.parse().map_err(|_| bad())?,
        served: served.parse().map_err(|_| bad())?,
    })
}

#[async_trait]
impl DrawStore for RedisStock {
    async fn enter(&self, sale: SaleId, entry: DrawEntry) -> Result<Entered, StoreError> {
        let keys = SaleKeys::new(sale);
        let raw = entry.encode();
        let reply: Vec<String> = self
            .retrying(dropped, |mut conn| {
                let mut invocation = self.scripts.draw_enter.prepare_invoke();
                invocation
                    .key(&keys.draw_state)
                    .key(&keys.draw)
                    .arg(entry.user_id.as_str())
                    .arg(&raw)
                    .arg(entry.quantity.get())
                    .arg(entry.idempotency_key.as_str());
                async move { invocation.invoke_async(&mut conn).await }
            })
            .await?;
        match reply.as_slice() {
            [closed] if closed == "closed" => Ok(Entered::Closed),
            [reused] if reused == "key_reused" => Ok(Entered::KeyReused),
            [kind, first] if kind == "entry" => DrawEntry::decode(entry.user_id.as_str(), first)
                .map(Entered::Entry)
                .map_err(store_error),
            other => Err(store_error(format!("draw_enter: unexpected reply {other:?}"))),
        }
    }

    async fn close(&self, sale: SaleId, seed: DrawSeed) -> Result<DrawStatus, StoreError> {
        let keys = SaleKeys::new(sale);
        let seed = seed.to_hex();
        let reply: Vec<String> = self
            .retrying(dropped, |mut conn| {
                let mut invocation = self.scripts.draw_close.prepare_invoke();
                invocation.key(&keys.draw_state).key(&keys.draw).arg(&seed);
                async move { invocation.invoke_async(&mut conn).await }
            })
            .await?;
        status(&reply)
    }

    async fn entries(&self, sale: SaleId) -> Result<Vec<DrawEntry>, StoreError> {
        let draw = SaleKeys::new(sale).draw;
        let all: Vec<(String, String)> = self
            .retrying(dropped, |mut conn| {
                let cmd = redis::cmd("HGETALL").arg(&draw).to_owned();
                async move { cmd.query_async(&mut conn).await }
            })
            .await?;
        all.iter()
            .map(|(user, raw)| DrawEntry::decode(user, raw).map_err(store_error))
            .collect()
    }

    async fn record(
        &self,
        sale: SaleId,
        served: u64,
        answers: &[(UserId, DrawAnswer)],
    ) -> Result<u64, StoreError> {
        let keys = SaleKeys::new(sale);
        let mut position = served;
        for chunk in answers.chunks(RECORD_CHUNK) {
            let from = position;
            position = self
                .retrying(dropped, |mut conn| {
                    let mut invocation = self.scripts.draw_record.prepare_invoke();
                    invocation.key(&keys.draw_state).key(&keys.draw_answers).arg(from);
                    for (user, answer) in chunk {
                        invocation.arg(user.as_str()).arg(answer.encode());
                    }
                    async move { invocation.invoke_async(&mut conn).await }
                })
                .await?;
            if position != from + chunk.len() as u64 {
                // Another server recorded these positions first.
                break;
            }
        }
        Ok(position)
    }

    async fn answers(&self, sale: SaleId, users: &[UserId]) -> Result<Vec<Option<DrawAnswer>>, StoreError> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let answers = SaleKeys::new(sale).draw_answers;
        let raw: Vec<Option<String>> = self
            .retrying(dropped, |mut conn| {
                let mut cmd = redis::cmd("HMGET");
                cmd.arg(&answers);
                for user in users {
                    cmd.arg(user.as_str());
                }
                async move { cmd.query_async(&mut conn).await }
            })
            .await?;
        raw.into_iter()
            .map(|a| a.map(|a| DrawAnswer::decode(&a).map_err(store_error)).transpose())
            .collect()
    }

    async fn status(&self, sale: SaleId) -> Result<Option<DrawStatus>, StoreError> {
        let keys = SaleKeys::new(sale);
        let reply: Vec<String> = self
            .retrying(dropped, |mut conn| {
                let mut invocation = self.scripts.draw_status.prepare_invoke();
                invocation.key(&keys.draw_state).key(&keys.draw);
                async move { invocation.invoke_async(&mut conn).await }
            })
            .await?;
        if reply.is_empty() {
            return Ok(None);
        }
        status(&reply).map(Some)
    }

    async fn forget_draw(&self, sale: SaleId) -> Result<(), StoreError> {
        let keys = SaleKeys::new(sale);
        self.retrying(dropped, |mut conn| {
            let cmd = redis::cmd("DEL")
                .arg(&keys.draw)
                .arg(&keys.draw_state)
                .arg(&keys.draw_answers)
                .to_owned();
            async move { cmd.query_async::<i64>(&mut conn).await }
        })
        .await
        .map(drop)
    }
}
