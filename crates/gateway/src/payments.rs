//! Payments in: the signed webhook of a payment provider, and the simulated
//! provider of demos (buyers pay their own orders).
//!
//! A webhook is signed like Stripe's: header `FlashSale-Signature:
//! t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` under
//! `FLASHSALE_PAYMENT_WEBHOOK_SECRET`. The timestamp must be within
//! [`TOLERANCE`] of the engine's clock, so a captured request cannot be
//! replayed later; within it, a replay is harmless: paying a paid order
//! changes nothing and gets the same answer (idempotent by event id, and by
//! order).

use std::fmt;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use utoipa::ToSchema;

use crate::error::ApiError;

/// How far a signature's timestamp may be from the engine's clock.
pub const TOLERANCE: Duration = Duration::from_secs(300);

/// The header a webhook's signature comes in.
pub const SIGNATURE_HEADER: &str = "flashsale-signature";

/// Who tells the engine that an order is paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMode {
    /// Buyers pay with `POST /api/orders/{id}/pay`: for demos.
    Simulated,
    /// Only the payment provider's signed webhook pays.
    Webhook,
}

impl PaymentMode {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "simulated" => Some(Self::Simulated),
            "webhook" => Some(Self::Webhook),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Simulated => "simulated",
            Self::Webhook => "webhook",
        }
    }
}

/// The gateway's payment settings.
#[derive(Clone)]
pub struct Payments {
    pub mode: PaymentMode,
    /// The webhook's HMAC key; the webhook answers 404 without one.
    pub webhook_secret: Option<String>,
}

impl Payments {
    /// What health and the start-up banner say.
    pub fn describe(&self) -> String {
        format!(
            "{} (webhook {})",
            self.mode.as_str(),
            if self.webhook_secret.is_some() {
                "on"
            } else {
                "off"
            }
        )
    }
}

impl fmt::Debug for Payments {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Payments")
            .field("mode", &self.mode)
            .field(
                "webhook_secret",
                &self.webhook_secret.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `FlashSale-Signature` value of `body` signed at `timestamp` (unix
/// seconds): what a provider sends, and what `flashsale pay` does.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let digest = mac(secret, timestamp, body).finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={timestamp},v1={hex}")
}

/// Checks `header` against `body` at `now` (unix seconds). Any of several
/// `v1` entries may match (a provider rotating its secret sends both).
pub fn verify(secret: &str, header: Option<&str>, body: &[u8], now: i64) -> Result<(), ApiError> {
    let header = header.ok_or(ApiError::InvalidSignature("missing FlashSale-Signature header"))?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v)) => signatures.extend(unhex(v)),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(ApiError::InvalidSignature("FlashSale-Signature has no valid t="))?;
    if signatures.is_empty() {
        return Err(ApiError::InvalidSignature("FlashSale-Signature has no valid v1="));
    }
    // Checked before the timestamp: a stale answer must not be a way to
    // learn anything about a forged request.
    let valid = signatures
        .iter()
        .any(|s| mac(secret, timestamp, body).verify_slice(s).is_ok());
    if !valid {
        return Err(ApiError::InvalidSignature(
            "the signature does not match the body",
        ));
    }
    if timestamp.abs_diff(now) > TOLERANCE.as_secs() {
        return Err(ApiError::StaleSignature {
            tolerance_secs: TOLERANCE.as_secs(),
        });
    }
    Ok(())
}

fn unhex(raw: &str) -> Option<Vec<u8>> {
    if raw.len() != 64 || !raw.is_ascii() {
        return None;
    }
    (0..raw.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&raw[i..i + 2], 16).ok())
        .collect()
}

/// What a payment provider reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum PaymentEventType {
    #[serde(rename = "payment.succeeded")]
    Succeeded,
    #[serde(rename = "payment.failed")]
    Failed,
}

/// `POST /api/payments/webhook`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentEvent {
    /// The provider's event id, 1 to 255 characters.
    #[schema(min_length = 1, max_length = 255)]
    pub id: String,
    #[serde(rename = "type")]
    pub kind: PaymentEventType,
    #[schema(format = "uuid")]
    pub order_id: String,
    /// Must be the order's price: the sale's price × its quantity.
    #[schema(minimum = 0)]
    pub amount_cents: i64,
}

/// What the engine made of a payment event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentEventOutcome {
    /// The order is paid (by this event, or an earlier delivery).
    Paid,
    /// The order expired or was cancelled before the payment: its units
    /// are back on sale; refund the buyer.
    OrderExpired,
    /// A failed payment: the order still awaits payment until its deadline.
    PaymentFailed,
}

/// The 200 answer to a payment event.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PaymentEventAnswer {
    pub event_id: String,
    #[schema(format = "uuid")]
    pub order_id: String,
    pub outcome: PaymentEventOutcome,
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec-test";

    #[test]
    fn a_signature_verifies_only_its_body_secret_and_time() {
        let body = br#"{"id":"evt_1"}"#;
        let header = sign(SECRET, 1_000_000, body);
        assert!(verify(SECRET, Some(&header), body, 1_000_000).is_ok());
        assert!(verify(SECRET, Some(&header), body, 1_000_000 + 300).is_ok());
        let code = |r: Result<(), ApiError>| r.unwrap_err().code().as_str();
        assert_eq!(
            code(verify(SECRET, Some(&header), body, 1_000_000 + 301)),
            "stale_signature"
        );
        assert_eq!(
            code(verify(SECRET, Some(&header), b"{}", 1_000_000)),
            "invalid_signature"
        );
        assert_eq!(
            code(verify("other", Some(&header), body, 1_000_000)),
            "invalid_signature"
        );
        assert_eq!(code(verify(SECRET, None, body, 1_000_000)), "invalid_signature");
        let forged_time = header.replace("t=1000000", "t=1000100");
        assert_eq!(
            code(verify(SECRET, Some(&forged_time), body, 1_000_100)),
            "invalid_signature"
        );
        for bad in ["", "t=x,v1=00", "v1=zz", "t=1000000"] {
            assert_eq!(
                code(verify(SECRET, Some(bad), body, 1_000_000)),
                "invalid_signature",
                "{bad}"
            );
        }
        let rotated = format!("{},v1={}", header, "0".repeat(64));
        assert!(verify(SECRET, Some(&rotated), body, 1_000_000).is_ok());
    }
}
