//! The draw of a fair start (issue 19, `docs/fair-start.md`): where the
//! entries of a sale's opening window wait, the seed that orders them, and
//! the answer each entry got once served.
//!
//! The store holds the facts every process must agree on; deciding an
//! entry is the stock store's ordinary reservation, made with the entry's
//! idempotency key, so an entry served twice (a server that died between
//! reserving and recording) gets its first answer back.

use async_trait::async_trait;

use super::StoreError;
use crate::draw::DrawSeed;
use crate::ids::{IdempotencyKey, OrderId, SaleId, UserId};
use crate::purchase::{PurchaseRejection, Quantity};

/// One buyer's entry in a sale's draw: the purchase the buyer asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrawEntry {
    pub user_id: UserId,
    /// The order the entry becomes if it wins.
    pub order_id: OrderId,
    pub quantity: Quantity,
    /// The buyer's key, or one the engine made for the entry: serving an
    /// entry is keyed either way.
    pub idempotency_key: IdempotencyKey,
}

/// What entering did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entered {
    /// The buyer's entry: this one, or the one the buyer made first (one
    /// entry per buyer; the first body wins).
    Entry(DrawEntry),
    /// The buyer's earlier entry has this key with another quantity.
    KeyReused,
    /// The window is closed: the purchase goes the normal way.
    Closed,
}

/// Where a sale's draw stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DrawPhase {
    /// Entries are taken.
    Open,
    /// Closed with a seed; entries are being served in the drawn order.
    Serving,
    /// Every entry has its answer.
    Served,
}

impl DrawPhase {
    /// The name the stores keep.
    pub fn as_str(self) -> &'static str {
        match self {
            DrawPhase::Open => "open",
            DrawPhase::Serving => "serving",
            DrawPhase::Served => "served",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [DrawPhase::Open, DrawPhase::Serving, DrawPhase::Served]
            .into_iter()
            .find(|p| p.as_str() == raw)
    }

    /// The phase of a closed draw once `served` of its `entrants` are.
    pub fn after(served: u64, entrants: u64) -> Self {
        if served >= entrants {
            DrawPhase::Served
        } else {
            DrawPhase::Serving
        }
    }
}

/// A sale's draw, for the servers and the operator (who is shown it, and
/// finds it in the archive once the sale left the live stores).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DrawStatus {
    pub phase: DrawPhase,
    /// Set when the window closed.
    pub seed: Option<DrawSeed>,
    /// Entries: so far while open, fixed once closed.
    pub entrants: u64,
    /// Entries served, in the drawn order.
    pub served: u64,
}

/// The answer an entry got: today's purchase answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DrawAnswer {
    Accepted { order_id: OrderId, remaining: u64 },
    Refused(PurchaseRejection),
}

/// Why an entry or an answer could not be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a draw record: {0:?}")]
pub struct DrawRecordError(pub String);

impl DrawEntry {
    /// The key of an entry whose buyer sent none: the same for every
    /// attempt of the buyer, so that serving it is keyed too.
    pub fn key_for(user: &UserId) -> IdempotencyKey {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(user.as_str().as_bytes());
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        IdempotencyKey::parse(&format!("draw-{hex}")).expect("hex digits make a key")
    }

    /// One line, as the stores keep it beside the buyer's id: `<order id>
    /// <quantity> <key>` (a key holds no space: visible ASCII only).
    pub fn encode(&self) -> String {
        format!(
            "{} {} {}",
            self.order_id,
            self.quantity.get(),
            self.idempotency_key.as_str()
        )
    }

    /// Reads `user`'s entry as [`DrawEntry::encode`] wrote it.
    pub fn decode(user: &str, raw: &str) -> Result<Self, DrawRecordError> {
        let bad = || DrawRecordError(format!("{user}: {raw}"));
        let words: Vec<&str> = raw.split(' ').collect();
        let [order, quantity, key] = words.as_slice() else {
            return Err(bad());
        };
        Ok(Self {
            user_id: UserId::parse(user).map_err(|_| bad())?,
            order_id: OrderId::parse(order).map_err(|_| bad())?,
            quantity: quantity
                .parse()
                .ok()
                .and_then(|q| Quantity::parse(q).ok())
                .ok_or_else(bad)?,
            idempotency_key: IdempotencyKey::parse(key).map_err(|_| bad())?,
        })
    }
}

impl DrawAnswer {
    /// One line, as the stores keep it.
    pub fn encode(&self) -> String {
        use PurchaseRejection::*;
        match self {
            DrawAnswer::Accepted { order_id, remaining } => format!("accepted {order_id} {remaining}"),
            DrawAnswer::Refused(SaleNotActive) => "sale_not_active".into(),
            DrawAnswer::Refused(SoldOut) => "sold_out".into(),
            DrawAnswer::Refused(NotEnoughStock { remaining }) => format!("not_enough_stock {remaining}"),
            DrawAnswer::Refused(LimitExceeded { limit }) => format!("limit_exceeded {limit}"),
            DrawAnswer::Refused(QuantityAboveLimit { limit }) => format!("quantity_above_limit {limit}"),
            DrawAnswer::Refused(IdempotencyKeyReused) => "idempotency_key_reused".into(),
        }
    }

    /// Reads what [`DrawAnswer::encode`] wrote, and nothing else.
    pub fn decode(raw: &str) -> Result<Self, DrawRecordError> {
        use PurchaseRejection::*;
        let bad = || DrawRecordError(raw.to_owned());
        let words: Vec<&str> = raw.split(' ').collect();
        let number = |i: usize| words.get(i).and_then(|w| w.parse::<u64>().ok()).ok_or_else(bad);
        let limit = |i: usize| number(i).and_then(|n| u32::try_from(n).map_err(|_| bad()));
        let answer = match words[0] {
            "accepted" => DrawAnswer::Accepted {
                order_id: words
                    .get(1)
                    .and_then(|w| OrderId::parse(w).ok())
                    .ok_or_else(bad)?,
                remaining: number(2)?,
            },
            "sale_not_active" => DrawAnswer::Refused(SaleNotActive),
            "sold_out" => DrawAnswer::Refused(SoldOut),
            "not_enough_stock" => DrawAnswer::Refused(NotEnoughStock {
                remaining: number(1)?,
            }),
            "limit_exceeded" => DrawAnswer::Refused(LimitExceeded { limit: limit(1)? }),
            "quantity_above_limit" => DrawAnswer::Refused(QuantityAboveLimit { limit: limit(1)? }),
            "idempotency_key_reused" => DrawAnswer::Refused(IdempotencyKeyReused),
            _ => return Err(bad()),
        };
        // Extra words, or a number written another way, are not an answer.
        if answer.encode() != raw {
            return Err(bad());
        }
        Ok(answer)
    }
}

/// The draws of every sale with a fair start.
///
/// # Errors
/// Each call is one atomic step of the store: `enter` never adds an entry
/// to a closed draw, `close` fixes the entrants and the seed once (a later
/// call, from any process, reads them), and `record` advances the served
/// position only from where the caller read it, so two servers never both
/// record the same positions.
#[async_trait]
pub trait DrawStore: Send + Sync + 'static {
    /// Enters `entry` in `sale`'s draw, unless it is closed; see [`Entered`].
    async fn enter(&self, sale: SaleId, entry: DrawEntry) -> Result<Entered, StoreError>;
    /// Closes the draw with `seed`, or reads the seed and entrants it was
    /// closed with. A draw nobody entered closes too (served, with no
    /// entrant): a late entry is refused all the same.
    async fn close(&self, sale: SaleId, seed: DrawSeed) -> Result<DrawStatus, StoreError>;
    /// Every entry of the draw, in no particular order.
    async fn entries(&self, sale: SaleId) -> Result<Vec<DrawEntry>, StoreError>;
    /// Records the answers of the entries at positions `served..served +
    /// answers.len()` of the drawn order, if the draw's served position is
    /// still `served`; returns the position afterwards (unchanged when
    /// another server got there first).
    async fn record(
        &self,
        sale: SaleId,
        served: u64,
        answers: &[(UserId, DrawAnswer)],
    ) -> Result<u64, StoreError>;
    /// The answers of these buyers' entries (`None`: not served yet, or no
    /// entry).
    async fn answers(&self, sale: SaleId, users: &[UserId]) -> Result<Vec<Option<DrawAnswer>>, StoreError>;
    /// The draw of `sale`, if it has one.
    async fn status(&self, sale: SaleId) -> Result<Option<DrawStatus>, StoreError>;
    /// Removes the draw of a sale that left the live stores.
    async fn forget_draw(&self, sale: SaleId) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_reads_back_as_written() {
        let entry = DrawEntry {
            user_id: UserId::parse("ann b").unwrap(),
            order_id: OrderId::generate(),
            quantity: Quantity::parse(3).unwrap(),
            idempotency_key: IdempotencyKey::parse("k-1").unwrap(),
        };
        assert_eq!(DrawEntry::decode("ann b", &entry.encode()), Ok(entry.clone()));
        let order = entry.order_id;
        for bad in [
            "",
            "x 1 k",
            &format!("{order} 0 k"),
            &format!("{order} 1"),
            &format!("{order} 1 k x"),
        ] {
            assert!(DrawEntry::decode("ann b", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn an_answer_reads_back_as_written() {
        use PurchaseRejection::*;
        let answers = [
            DrawAnswer::Accepted {
                order_id: OrderId::generate(),
                remaining: 41,
            },
            DrawAnswer::Refused(SaleNotActive),
            DrawAnswer::Refused(SoldOut),
            DrawAnswer::Refused(NotEnoughStock { remaining: 2 }),
            DrawAnswer::Refused(LimitExceeded { limit: 3 }),
            DrawAnswer::Refused(QuantityAboveLimit { limit: 4 }),
            DrawAnswer::Refused(IdempotencyKeyReused),
        ];
        for answer in answers {
            assert_eq!(DrawAnswer::decode(&answer.encode()), Ok(answer));
        }
        for bad in [
            "",
            "accepted",
            "accepted x 1",
            "sold_out 3",
            "limit_exceeded -1",
            "limit_exceeded 1 2",
            "won",
        ] {
            assert!(DrawAnswer::decode(bad).is_err(), "{bad:?}");
        }
    }
}
