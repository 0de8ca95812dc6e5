//! The body of one message on the order queue: JSON with a version, so a
//! consumer can refuse (dead-letter) a body it does not understand rather
//! than misread it. Several reservations per message: one confirm and one
//! ack cover a whole relay batch.

use flashsale_domain::Reservation;
use lapin::types::{AMQPValue, FieldArray, FieldTable, LongString};
use serde::{Deserialize, Serialize};

/// The header with each reservation's trace context: an array of W3C
/// `traceparent`s ("" for none), in the order of the body's reservations. A
/// message carries a batch, so one `traceparent` header could not say
/// whose trace it continues.
pub const TRACES_HEADER: &str = "flashsale-traceparents";

/// The headers of a message whose reservations have `traces`; none when no
/// reservation has one.
pub fn trace_headers(traces: Vec<String>) -> Option<FieldTable> {
    if traces.iter().all(String::is_empty) {
        return None;
    }
    let values: Vec<AMQPValue> = traces
        .into_iter()
        .map(|t| AMQPValue::LongString(LongString::from(t)))
        .collect();
    let mut headers = FieldTable::default();
    headers.insert(
        TRACES_HEADER.into(),
        AMQPValue::FieldArray(FieldArray::from(values)),
    );
    Some(headers)
}

/// The trace context of each of a message's `count` reservations, from its
/// headers: all "" when it has none, or they do not pair up.
pub fn traces_of(headers: Option<&FieldTable>, count: usize) -> Vec<String> {
    let traces: Vec<String> = match headers.and_then(|h| h.inner().get(TRACES_HEADER)) {
        Some(AMQPValue::FieldArray(values)) => values
            .as_slice()
            .iter()
            .map(|v| match v {
                AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
                _ => String::new(),
            })
            .collect(),
        _ => Vec::new(),
    };
    if traces.len() == count {
        traces
    } else {
        vec![String::new(); count]
    }
}

/// The current version of the body.
pub const VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderMessage {
    pub v: u32,
    pub reservations: Vec<Reservation>,
}

/// Why a body was refused.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    #[error("not an order message: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error("unsupported message version {0}")]
    Version(u32),
}

impl OrderMessage {
    pub fn new(reservations: Vec<Reservation>) -> Self {
        Self {
            v: VERSION,
            reservations,
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a reservation always serializes")
    }

    pub fn parse(body: &[u8]) -> Result<Self, MessageError> {
        let message: Self = serde_json::from_slice(body)?;
        if message.v != VERSION {
            return Err(MessageError::Version(message.v));
        }
        Ok(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_headers_pair_with_the_reservations() {
        let traces = vec!["00-a-b-01".to_owned(), String::new()];
        let headers = trace_headers(traces.clone());
        assert_eq!(traces_of(headers.as_ref(), 2), traces);
        assert_eq!(traces_of(headers.as_ref(), 3), ["", "", ""]);
        assert!(trace_headers(vec![String::new(); 2]).is_none());
        assert_eq!(traces_of(None, 1), [""]);
    }
}
