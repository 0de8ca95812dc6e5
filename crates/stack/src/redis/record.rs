//! A reservation as the Lua scripts keep it: one string, fields joined by
//! `"\n"` (order id, buyer, quantity, idempotency key or "", remaining
//! after it, reserved_at in microseconds). No field can contain `"\n"`:
//! buyer ids and keys refuse control characters.

use chrono::{DateTime, Utc};
use flashsale_domain::{IdempotencyKey, OrderId, Quantity, Reservation, SaleId, UserId};

/// A record that does not decode: Redis holds something no script wrote.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed reservation record: {0}")]
pub struct RecordError(&'static str);

/// The record of `r` (its sale is implied by the key that holds it).
pub fn encode(r: &Reservation) -> String {
    format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        r.order_id,
        r.user_id,
        r.quantity.get(),
        r.idempotency_key.as_ref().map_or("", IdempotencyKey::as_str),
        r.remaining,
        r.reserved_at.timestamp_micros(),
    )
}

/// The reservation of `sale` that `record` describes.
pub fn decode(sale: SaleId, record: &str) -> Result<Reservation, RecordError> {
    let f: Vec<&str> = record.split('\n').collect();
    let [order, user, quantity, key, remaining, at] = f[..] else {
        return Err(RecordError("field count"));
    };
    let quantity: i64 = quantity.parse().map_err(|_| RecordError("quantity"))?;
    let micros: i64 = at.parse().map_err(|_| RecordError("reserved_at"))?;
    Ok(Reservation {
        order_id: OrderId::parse(order).map_err(|_| RecordError("order_id"))?,
        sale_id: sale,
        user_id: UserId::parse(user).map_err(|_| RecordError("user_id"))?,
        quantity: Quantity::parse(quantity).map_err(|_| RecordError("quantity"))?,
        idempotency_key: match key {
            "" => None,
            k => Some(IdempotencyKey::parse(k).map_err(|_| RecordError("idempotency_key"))?),
        },
        remaining: remaining.parse().map_err(|_| RecordError("remaining"))?,
        reserved_at: DateTime::<Utc>::from_timestamp_micros(micros).ok_or(RecordError("reserved_at"))?,
    })
}

/// Joins the records of one outbox entry (`recs`, entries of version 2):
/// the ASCII record separator, which no record holds.
pub const SEPARATOR: char = '\u{1e}';

/// The records an outbox entry carries: `recs` (a batch's, version 2) or
/// `rec` (one, version 1, as written before batches and by hand).
pub fn outbox_records(entry: &redis::streams::StreamId) -> Vec<String> {
    let batch: Option<String> = entry.get("recs");
    let one: Option<String> = entry.get("rec");
    match (batch, one) {
        (Some(batch), _) => batch.split(SEPARATOR).map(str::to_owned).collect(),
        (None, Some(one)) => vec![one],
        (None, None) => Vec::new(),
    }
}

/// The trace contexts an outbox entry carries (`tps`): one `traceparent`
/// per record, "" for a record without; all "" when the entry has none
/// (no tracing, or an entry of an older version) or they do not pair up.
pub fn outbox_traces(entry: &redis::streams::StreamId, records: usize) -> Vec<String> {
    let traces: Vec<String> = entry
        .get::<String>("tps")
        .map(|tps| tps.split(SEPARATOR).map(str::to_owned).collect())
        .unwrap_or_default();
    if traces.len() == records {
        traces
    } else {
        vec![String::new(); records]
    }
}

/// Microseconds since the epoch, or "" for none: how scripts store times.
pub fn micros(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.timestamp_micros().to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use chrono::SubsecRound;

    use super::*;

    #[test]
    fn records_round_trip() {
        let sale = SaleId::generate();
        for key in [None, Some("retry-1")] {
            let r = Reservation {
                order_id: OrderId::generate(),
                sale_id: sale,
                user_id: UserId::parse("buyer é 1").unwrap(),
                quantity: Quantity::parse(3).unwrap(),
                idempotency_key: key.map(|k| IdempotencyKey::parse(k).unwrap()),
                remaining: 42,
                reserved_at: Utc::now().trunc_subsecs(6),
            };
            assert_eq!(decode(sale, &encode(&r)), Ok(r));
        }
        assert!(decode(sale, "a\nb").is_err());
    }

    /// A batch's entry (`recs`) and an entry written one record at a time
    /// (`rec`, before batches: still in an outbox across an upgrade).
    #[test]
    fn outbox_entries_of_both_versions_give_their_records() {
        let entry = |fields: &[(&str, &str)]| redis::streams::StreamId {
            id: "1-0".into(),
            map: fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), redis::Value::BulkString(v.as_bytes().to_vec())))
                .collect(),
            ..Default::default()
        };
        let batch = format!("a\n1{SEPARATOR}b\n2{SEPARATOR}c\n3");
        assert_eq!(
            outbox_records(&entry(&[("v", "2"), ("recs", &batch)])),
            ["a\n1", "b\n2", "c\n3"]
        );
        assert_eq!(outbox_records(&entry(&[("v", "1"), ("rec", "a\n1")])), ["a\n1"]);
        assert!(outbox_records(&entry(&[("v", "1")])).is_empty());
        let traced = format!("00-a-b-01{SEPARATOR}{SEPARATOR}00-c-d-01");
        assert_eq!(
            outbox_traces(&entry(&[("recs", &batch), ("tps", &traced)]), 3),
            ["00-a-b-01", "", "00-c-d-01"]
        );
        assert_eq!(outbox_traces(&entry(&[("recs", &batch)]), 3), ["", "", ""]);
        assert_eq!(outbox_traces(&entry(&[("tps", "00-a-b-01")]), 2), ["", ""]);
    }
}
