//! Why a process did not start: each refusal names what to fix.

use std::net::SocketAddr;

use crate::secrets;

/// Why the engine did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Database(#[from] flashsale_embedded::DbError),
    #[error(transparent)]
    Secret(#[from] secrets::SecretError),
    #[error("cannot restore the sales: {0}")]
    Restore(flashsale_domain::StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("this needs {0} (the real stack's store URLs)")]
    StackIncomplete(String),
    #[error("cannot reach {store}: {reason}")]
    Store { store: &'static str, reason: String },
    #[error("invalid service URL: {0}")]
    ServiceUrl(String),
    #[error("refusing to run on this Redis: {0}")]
    UnsafeRedis(String),
    #[error(transparent)]
    BuyerTokens(#[from] crate::settings::BuyerTokenSettingsError),
    #[error(transparent)]
    Webhook(#[from] crate::shop_webhooks::WebhookSettingsError),
}
