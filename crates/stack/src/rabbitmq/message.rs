//! The body of one message on the order queue: JSON with a version, so a
//! consumer can refuse (dead-letter) a body it does not understand rather
//! than misread it. Several reservations per message: one confirm and one
//! ack cover a whole relay batch.

use flashsale_domain::Reservation;
use serde::{Deserialize, Serialize};

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
