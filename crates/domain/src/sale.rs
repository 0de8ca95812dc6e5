//! A sale session and its state machine.
//!
//! The operator moves a sale along `scheduled → active ⇄ paused → ended`;
//! `sold_out` is never stored, it is what an active or paused sale with no
//! remaining units is shown as. `starts_at` and `ends_at` move the sale by
//! themselves: [`SaleTerms::effective_state`] applies them at a given instant, so
//! every replica that evaluates the same sale at the same time agrees.

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};

use crate::book::StockLevel;
use crate::ids::SaleId;
use crate::ports::DrawStatus;

/// The state an operator (or the schedule) put the sale in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SaleState {
    Scheduled,
    Active,
    Paused,
    Ended,
}

impl SaleState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Active => "active",
            Self::Paused => "paused",
            Self::Ended => "ended",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "scheduled" => Self::Scheduled,
            "active" => Self::Active,
            "paused" => Self::Paused,
            "ended" => Self::Ended,
            _ => return None,
        })
    }
}

/// What buyers and operators see: the state, or `sold_out` when an open sale
/// has nothing left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SaleStatus {
    Scheduled,
    Active,
    Paused,
    Ended,
    SoldOut,
}

/// An operator's command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transition {
    Start,
    Pause,
    Resume,
    End,
}

impl Transition {
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "start" => Self::Start,
            "pause" => Self::Pause,
            "resume" => Self::Resume,
            "end" => Self::End,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::End => "end",
        }
    }
}

/// A command that the sale's current state does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot {action} a sale that is {from}", action = .transition.as_str(), from = .from.as_str())]
pub struct TransitionError {
    pub from: SaleState,
    pub transition: Transition,
}

impl SaleState {
    /// The state after `transition`, or why it is refused.
    pub fn apply(self, transition: Transition) -> Result<SaleState, TransitionError> {
        use SaleState::*;
        use Transition::*;
        match (self, transition) {
            (Scheduled, Start) => Ok(Active),
            (Active, Pause) => Ok(Paused),
            (Paused, Resume) => Ok(Active),
            (Scheduled | Active | Paused, End) => Ok(Ended),
            (from, transition) => Err(TransitionError { from, transition }),
        }
    }
}

/// The terms a sale is sold under: everything the purchase decision needs.
/// The stock store keeps a copy of these next to the live counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleTerms {
    pub id: SaleId,
    pub state: SaleState,
    /// Units ever put on sale (initial stock plus top-ups minus withdrawals).
    pub stock: u64,
    pub per_user_limit: u32,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    /// A fair start (issue 19): see [`Sale::prequeue_seconds`].
    #[serde(default)]
    pub prequeue_seconds: u32,
    /// See [`Sale::fair_start_seconds`].
    #[serde(default)]
    pub fair_start_seconds: u32,
    /// See [`Sale::stock_buckets`].
    #[serde(default = "one_bucket")]
    pub stock_buckets: u32,
}

fn one_bucket() -> u32 {
    1
}

impl SaleTerms {
    /// The window of the sale's opening draw, when it has one: from
    /// `prequeue_seconds` before `starts_at` to `fair_start_seconds` after.
    pub fn draw_window(&self) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        draw_window(self.starts_at, self.prequeue_seconds, self.fair_start_seconds)
    }

    /// The state at `now`: a scheduled sale whose start has come is active,
    /// any open sale whose end has passed is ended.
    pub fn effective_state(&self, now: DateTime<Utc>) -> SaleState {
        effective_state(self.state, self.starts_at, self.ends_at, now)
    }
}

fn draw_window(
    starts_at: Option<DateTime<Utc>>,
    prequeue_seconds: u32,
    fair_start_seconds: u32,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let start = starts_at.filter(|_| prequeue_seconds + fair_start_seconds > 0)?;
    Some((
        start - chrono::Duration::seconds(prequeue_seconds.into()),
        start + chrono::Duration::seconds(fair_start_seconds.into()),
    ))
}

/// The state after applying the schedule at `now`.
pub fn effective_state(
    state: SaleState,
    starts_at: Option<DateTime<Utc>>,
    ends_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> SaleState {
    if state != SaleState::Ended && ends_at.is_some_and(|end| now >= end) {
        return SaleState::Ended;
    }
    if state == SaleState::Scheduled && starts_at.is_some_and(|start| now >= start) {
        return SaleState::Active;
    }
    state
}

/// The status shown for a sale in `state` with `remaining` units.
pub fn status_of(state: SaleState, remaining: u64) -> SaleStatus {
    match state {
        SaleState::Scheduled => SaleStatus::Scheduled,
        SaleState::Ended => SaleStatus::Ended,
        SaleState::Active | SaleState::Paused if remaining == 0 => SaleStatus::SoldOut,
        SaleState::Active => SaleStatus::Active,
        SaleState::Paused => SaleStatus::Paused,
    }
}

/// A sale as the catalog stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sale {
    pub id: SaleId,
    pub name: String,
    pub product: String,
    pub price_cents: u64,
    pub stock: u64,
    pub per_user_limit: u32,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub state: SaleState,
    pub created_at: DateTime<Utc>,
    /// Seconds a buyer has to pay once the order is stored; 0: no payment
    /// step, an order is final once stored.
    #[serde(default)]
    pub payment_window_seconds: u32,
    /// Seconds before `starts_at` from which purchase attempts are entered
    /// in the sale's opening draw rather than answered (issue 19).
    #[serde(default)]
    pub prequeue_seconds: u32,
    /// Seconds after `starts_at` until which they are: when the window
    /// closes the entries are served in a random order, then first come,
    /// first served. 0 and 0: no draw.
    #[serde(default)]
    pub fair_start_seconds: u32,
    /// Slots the sale's live stock is split over on the real stack, so a
    /// hot sale can sell on several Redis Cluster masters at once (issue 17,
    /// `docs/hot-sale-buckets.md`); 1: one slot. Set at creation only. The
    /// embedded engine keeps it and sells from one book whatever it says.
    #[serde(default = "one_bucket")]
    pub stock_buckets: u32,
    /// Set once the sale's life ended in the archive (see [`Archived`]).
    #[serde(default)]
    pub archived: Option<Archived>,
}

/// An ended sale whose pipeline drained and whose live state left the stock
/// store: it leaves every background loop, and its ledger stays. What it
/// sold is kept with it, so showing it reads no ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Archived {
    pub at: DateTime<Utc>,
    /// Units sold: the sale's stock less what remained.
    pub sold: u64,
    /// The sale's opening draw, for audit: its seed and entrants (the
    /// drawn order follows from them, `docs/fair-start.md`).
    #[serde(default)]
    pub draw: Option<DrawStatus>,
}

impl Sale {
    /// The counters of an archived sale, as its archive kept them.
    pub fn archived_level(&self) -> Option<StockLevel> {
        self.archived.map(|a| StockLevel {
            stock: self.stock,
            remaining: self.stock.saturating_sub(a.sold),
            in_flight: 0,
            persisted: a.sold,
            state: self.state,
        })
    }

    pub fn terms(&self) -> SaleTerms {
        SaleTerms {
            id: self.id,
            state: self.state,
            stock: self.stock,
            per_user_limit: self.per_user_limit,
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            prequeue_seconds: self.prequeue_seconds,
            fair_start_seconds: self.fair_start_seconds,
            stock_buckets: self.stock_buckets,
        }
    }
}

/// Why a new sale was refused; each names the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DraftError {
    #[error("name must be 1 to {max} characters", max = SaleDraft::MAX_TEXT)]
    Name,
    #[error("product must be 1 to {max} characters", max = SaleDraft::MAX_TEXT)]
    Product,
    #[error("price_cents must be between 0 and {max}", max = SaleDraft::MAX_PRICE_CENTS)]
    Price,
    #[error("stock must be between 1 and {max}", max = SaleDraft::MAX_STOCK)]
    Stock,
    #[error("per_user_limit must be between 1 and {max}", max = SaleDraft::MAX_PER_USER_LIMIT)]
    PerUserLimit,
    #[error("ends_at must be after starts_at")]
    Window,
    #[error("payment_window_seconds must be between 0 and {max}", max = SaleDraft::MAX_PAYMENT_WINDOW_SECONDS)]
    PaymentWindow,
    #[error(
        "prequeue_seconds and fair_start_seconds must be 0 or more, {max} together at most, and need starts_at",
        max = SaleDraft::MAX_DRAW_WINDOW_SECONDS
    )]
    FairStart,
    #[error("stock_buckets must be between 1 and {max}, and no more than stock", max = SaleDraft::MAX_STOCK_BUCKETS)]
    StockBuckets,
}

/// A validated request for a new sale: the only way to make a [`Sale`].
/// Deserialising one validates it again, so a draft sent between services
/// is as trustworthy as one parsed at the edge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawDraft")]
pub struct SaleDraft {
    name: String,
    product: String,
    price_cents: u64,
    stock: u64,
    per_user_limit: u32,
    starts_at: Option<DateTime<Utc>>,
    ends_at: Option<DateTime<Utc>>,
    #[serde(default)]
    payment_window_seconds: u32,
    #[serde(default)]
    prequeue_seconds: u32,
    #[serde(default)]
    fair_start_seconds: u32,
    #[serde(default = "one_bucket")]
    stock_buckets: u32,
}

impl SaleDraft {
    /// A minute: a buyer's request waits through the whole window, and
    /// clients give up on longer waits.
    pub const MAX_DRAW_WINDOW_SECONDS: u32 = 60;
    pub const MAX_TEXT: usize = 120;
    /// A day: longer holds keep units off sale past any sale's life.
    pub const MAX_PAYMENT_WINDOW_SECONDS: u32 = 86_400;
    pub const MAX_STOCK: u64 = 10_000_000;
    pub const MAX_PER_USER_LIMIT: u32 = 1_000;
    pub const MAX_PRICE_CENTS: u64 = 1_000_000_000_000;
    /// Beyond a cluster's masters more buckets only add steals.
    pub const MAX_STOCK_BUCKETS: u32 = 16;

    /// Checks every field; text is trimmed and must not contain control
    /// characters.
    pub fn parse(
        name: &str,
        product: &str,
        price_cents: i64,
        stock: i64,
        per_user_limit: i64,
        starts_at: Option<DateTime<Utc>>,
        ends_at: Option<DateTime<Utc>>,
    ) -> Result<Self, DraftError> {
        let name = clean_text(name).ok_or(DraftError::Name)?;
        let product = clean_text(product).ok_or(DraftError::Product)?;
        let price_cents = u64::try_from(price_cents)
            .ok()
            .filter(|p| *p <= Self::MAX_PRICE_CENTS)
            .ok_or(DraftError::Price)?;
        let stock = u64::try_from(stock)
            .ok()
            .filter(|s| (1..=Self::MAX_STOCK).contains(s))
            .ok_or(DraftError::Stock)?;
        let per_user_limit = u32::try_from(per_user_limit)
            .ok()
            .filter(|l| (1..=Self::MAX_PER_USER_LIMIT).contains(l))
            .ok_or(DraftError::PerUserLimit)?;
        if let (Some(start), Some(end)) = (starts_at, ends_at) {
            if end <= start {
                return Err(DraftError::Window);
            }
        }
        Ok(Self {
            name,
            product,
            price_cents,
            stock,
            per_user_limit,
            starts_at,
            ends_at,
            payment_window_seconds: 0,
            prequeue_seconds: 0,
            fair_start_seconds: 0,
            stock_buckets: 1,
        })
    }

    /// The same draft with its live stock split over `buckets` slots (see
    /// [`Sale::stock_buckets`]); no more buckets than units.
    pub fn with_stock_buckets(mut self, buckets: i64) -> Result<Self, DraftError> {
        self.stock_buckets = u32::try_from(buckets)
            .ok()
            .filter(|b| (1..=Self::MAX_STOCK_BUCKETS).contains(b) && u64::from(*b) <= self.stock)
            .ok_or(DraftError::StockBuckets)?;
        Ok(self)
    }

    /// The same draft with an opening draw (a fair start): purchase
    /// attempts from `prequeue` seconds before `starts_at` to `fair_start`
    /// seconds after are entered in a draw (0 and 0: none).
    pub fn with_fair_start(mut self, prequeue: i64, fair_start: i64) -> Result<Self, DraftError> {
        let seconds = |n: i64| u32::try_from(n).map_err(|_| DraftError::FairStart);
        let (prequeue, fair_start) = (seconds(prequeue)?, seconds(fair_start)?);
        let window = prequeue.saturating_add(fair_start);
        if window > Self::MAX_DRAW_WINDOW_SECONDS || (window > 0 && self.starts_at.is_none()) {
            return Err(DraftError::FairStart);
        }
        self.prequeue_seconds = prequeue;
        self.fair_start_seconds = fair_start;
        Ok(self)
    }

    /// The same draft with a payment step: buyers get `seconds` to pay once
    /// their order is stored (0: none).
    pub fn with_payment_window(mut self, seconds: i64) -> Result<Self, DraftError> {
        self.payment_window_seconds = u32::try_from(seconds)
            .ok()
            .filter(|s| *s <= Self::MAX_PAYMENT_WINDOW_SECONDS)
            .ok_or(DraftError::PaymentWindow)?;
        Ok(self)
    }

    /// The new sale, `scheduled` until started by hand or by `starts_at`.
    /// Times keep microseconds, as every store does.
    pub fn into_sale(self, id: SaleId, now: DateTime<Utc>) -> Sale {
        Sale {
            id,
            name: self.name,
            product: self.product,
            price_cents: self.price_cents,
            stock: self.stock,
            per_user_limit: self.per_user_limit,
            starts_at: self.starts_at.map(|t| t.trunc_subsecs(6)),
            ends_at: self.ends_at.map(|t| t.trunc_subsecs(6)),
            state: SaleState::Scheduled,
            created_at: now.trunc_subsecs(6),
            payment_window_seconds: self.payment_window_seconds,
            prequeue_seconds: self.prequeue_seconds,
            fair_start_seconds: self.fair_start_seconds,
            stock_buckets: self.stock_buckets,
            archived: None,
        }
    }
}

#[derive(Deserialize)]
struct RawDraft {
    name: String,
    product: String,
    price_cents: i64,
    stock: i64,
    per_user_limit: i64,
    starts_at: Option<DateTime<Utc>>,
    ends_at: Option<DateTime<Utc>>,
    #[serde(default)]
    payment_window_seconds: i64,
    #[serde(default)]
    prequeue_seconds: i64,
    #[serde(default)]
    fair_start_seconds: i64,
    #[serde(default = "one_bucket_raw")]
    stock_buckets: i64,
}

fn one_bucket_raw() -> i64 {
    1
}

impl TryFrom<RawDraft> for SaleDraft {
    type Error = DraftError;
    fn try_from(r: RawDraft) -> Result<Self, Self::Error> {
        SaleDraft::parse(
            &r.name,
            &r.product,
            r.price_cents,
            r.stock,
            r.per_user_limit,
            r.starts_at,
            r.ends_at,
        )?
        .with_payment_window(r.payment_window_seconds)?
        .with_fair_start(r.prequeue_seconds, r.fair_start_seconds)?
        .with_stock_buckets(r.stock_buckets)
    }
}

fn clean_text(raw: &str) -> Option<String> {
    let text = raw.trim();
    let ok = !text.is_empty()
        && text.chars().count() <= SaleDraft::MAX_TEXT
        && !text.chars().any(char::is_control);
    ok.then(|| text.to_owned())
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    #[test]
    fn stock_buckets_are_one_to_sixteen_and_never_more_than_the_units() {
        let draft = |stock| SaleDraft::parse("n", "p", 1, stock, 1, None, None).unwrap();
        for (stock, buckets, ok) in [
            (10, 1, true),
            (10, 4, true),
            (100, 16, true),
            (3, 4, false),
            (100, 17, false),
            (10, 0, false),
            (10, -1, false),
        ] {
            assert_eq!(
                draft(stock).with_stock_buckets(buckets).is_ok(),
                ok,
                "{stock} {buckets}"
            );
        }
        let sale = draft(10)
            .with_stock_buckets(4)
            .unwrap()
            .into_sale(SaleId::generate(), Utc::now());
        assert_eq!(sale.terms().stock_buckets, 4);
        let json = serde_json::json!({"name": "n", "product": "p", "price_cents": 1, "stock": 10,
            "per_user_limit": 1, "starts_at": null, "ends_at": null});
        let plain: SaleDraft = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(plain.stock_buckets, 1, "absent means one bucket");
        let mut json = json;
        json["stock_buckets"] = 17.into();
        assert!(serde_json::from_value::<SaleDraft>(json).is_err());
    }

    #[test]
    fn a_fair_start_is_a_short_window_around_a_scheduled_start() {
        let start = Utc::now() + Duration::hours(1);
        let draft = |starts_at| SaleDraft::parse("n", "p", 1, 10, 1, starts_at, None).unwrap();
        let sale = draft(Some(start))
            .with_fair_start(20, 10)
            .unwrap()
            .into_sale(SaleId::generate(), Utc::now());
        let (opens, closes) = sale.terms().draw_window().unwrap();
        assert_eq!(closes - opens, Duration::seconds(30));
        assert_eq!(sale.starts_at.unwrap() - opens, Duration::seconds(20));
        assert_eq!(
            draft(Some(start))
                .with_fair_start(0, 0)
                .unwrap()
                .into_sale(SaleId::generate(), start)
                .terms()
                .draw_window(),
            None
        );
        for (prequeue, fair_start, starts_at) in [
            (-1, 10, Some(start)),
            (0, 61, Some(start)),
            (31, 30, Some(start)),
            (0, 5, None),
        ] {
            assert_eq!(
                draft(starts_at).with_fair_start(prequeue, fair_start),
                Err(DraftError::FairStart),
                "{prequeue} {fair_start} {starts_at:?}"
            );
        }
        let json = serde_json::json!({"name": "n", "product": "p", "price_cents": 1, "stock": 1, "per_user_limit": 1,
            "starts_at": start, "ends_at": null, "fair_start_seconds": 90});
        assert!(
            serde_json::from_value::<SaleDraft>(json).is_err(),
            "a draft read from JSON is checked too"
        );
    }

    #[test]
    fn state_machine_allows_only_the_documented_moves() {
        use SaleState::*;
        use Transition::*;
        let all_states = [Scheduled, Active, Paused, Ended];
        let all = [Start, Pause, Resume, End];
        let allowed = [
            (Scheduled, Start, Active),
            (Active, Pause, Paused),
            (Paused, Resume, Active),
            (Scheduled, End, Ended),
            (Active, End, Ended),
            (Paused, End, Ended),
        ];
        for from in all_states {
            for t in all {
                let expected = allowed
                    .iter()
                    .find(|(f, tr, _)| *f == from && *tr == t)
                    .map(|(_, _, to)| *to);
                assert_eq!(from.apply(t).ok(), expected, "{from:?} {t:?}");
            }
        }
    }

    #[test]
    fn schedule_starts_and_ends_the_sale() {
        let now = Utc::now();
        let start = Some(now - Duration::seconds(1));
        let later = Some(now + Duration::seconds(60));
        use SaleState::*;
        assert_eq!(effective_state(Scheduled, start, later, now), Active);
        assert_eq!(effective_state(Scheduled, later, None, now), Scheduled);
        assert_eq!(effective_state(Active, None, start, now), Ended);
        assert_eq!(effective_state(Paused, None, start, now), Ended);
        assert_eq!(effective_state(Paused, start, later, now), Paused);
    }

    #[test]
    fn sold_out_is_derived() {
        assert_eq!(status_of(SaleState::Active, 0), SaleStatus::SoldOut);
        assert_eq!(status_of(SaleState::Paused, 0), SaleStatus::SoldOut);
        assert_eq!(status_of(SaleState::Ended, 0), SaleStatus::Ended);
        assert_eq!(status_of(SaleState::Scheduled, 0), SaleStatus::Scheduled);
        assert_eq!(status_of(SaleState::Active, 1), SaleStatus::Active);
    }

    #[test]
    fn draft_names_the_bad_field() {
        let ok = |n, p, price, stock, lim| SaleDraft::parse(n, p, price, stock, lim, None, None);
        assert!(ok("Noon drop", "Sneaker", 9900, 10, 2).is_ok());
        assert_eq!(ok(" ", "x", 1, 1, 1), Err(DraftError::Name));
        assert_eq!(ok("n", "", 1, 1, 1), Err(DraftError::Product));
        assert_eq!(ok("n", "p", -1, 1, 1), Err(DraftError::Price));
        assert_eq!(ok("n", "p", 1, 0, 1), Err(DraftError::Stock));
        assert_eq!(ok("n", "p", 1, 10_000_001, 1), Err(DraftError::Stock));
        assert_eq!(ok("n", "p", 1, 1, 0), Err(DraftError::PerUserLimit));
        assert_eq!(ok("n", "p", 1, 1, 1001), Err(DraftError::PerUserLimit));
        let now = Utc::now();
        assert_eq!(
            SaleDraft::parse("n", "p", 1, 1, 1, Some(now), Some(now)),
            Err(DraftError::Window)
        );
        let draft = ok("n", "p", 1, 1, 1).unwrap();
        assert_eq!(
            draft.clone().with_payment_window(-1),
            Err(DraftError::PaymentWindow)
        );
        assert_eq!(
            draft.clone().with_payment_window(86_401),
            Err(DraftError::PaymentWindow)
        );
        let sale = draft
            .with_payment_window(600)
            .unwrap()
            .into_sale(SaleId::generate(), now);
        assert_eq!(sale.payment_window_seconds, 600);
    }
}
