//! Everything `flashsale up` is configured by. Each field is a flag and an
//! environment variable (see `flashsale up --help`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use flashsale_gateway::auth::jwks::{Jwks, JwksError};
use flashsale_gateway::auth::jwt::{Rules, DEFAULT_MAX_LIFETIME_SECS};
use flashsale_gateway::auth::tokens::{parse_algorithms, Algorithm, BuyerTokens, TokenSettingsError};
use flashsale_gateway::payments::{PaymentMode, Payments};

/// Settings of `flashsale up`.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Address this process listens on [default: 127.0.0.1:8080 for `up`
    /// and `gateway`, :8081 product, :8082 inventory, :8083 order].
    #[arg(long, env = "FLASHSALE_BIND")]
    pub bind: Option<SocketAddr>,

    /// Folder of the embedded mode's database and generated secrets.
    #[arg(long, env = "FLASHSALE_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Token operators present as `Authorization: Bearer <token>`. When
    /// unset, a random one is generated and kept in the data folder. Use at
    /// least 32 random characters.
    #[arg(long, env = "FLASHSALE_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// HMAC key of buyer JWTs (HS256). When unset, a random one is generated
    /// and kept in the data folder. At least 32 bytes: a shorter one is
    /// refused at start.
    #[arg(long, env = "FLASHSALE_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    #[command(flatten)]
    pub jwt: JwtSettings,

    /// The services' internal credential (gateway to product, inventory and
    /// order), never accepted on the public API; the admin token is never
    /// accepted on the internal one. When unset, it is derived from the
    /// admin token and the JWT secret, so every process sharing those agrees
    /// on it; set it (32+ random characters) to rotate it on its own.
    #[arg(long, env = "FLASHSALE_SERVICE_TOKEN", hide_env_values = true)]
    pub service_token: Option<String>,

    /// Sustained requests per second per client IP on buyer routes (burst
    /// the same); 0 turns it off. The default tolerates a large NAT.
    #[arg(long, env = "FLASHSALE_RATE_PER_IP", default_value_t = 10_000)]
    pub rate_per_ip: u32,

    /// Sustained purchase attempts per second per buyer (burst the same); 0
    /// turns it off.
    #[arg(long, env = "FLASHSALE_RATE_PER_USER", default_value_t = 10)]
    pub rate_per_user: u32,

    /// Purchases processed at once; past it buyers get 503 `overloaded` with
    /// `Retry-After` instead of a growing wait.
    #[arg(long, env = "FLASHSALE_MAX_IN_FLIGHT", default_value_t = 4096)]
    pub max_in_flight: usize,

    /// Reservations that may wait for the order writer; past three quarters
    /// of it purchases are shed.
    #[arg(long, env = "FLASHSALE_QUEUE_CAPACITY", default_value_t = 16_384)]
    pub queue_capacity: usize,

    /// Largest request body, in bytes.
    #[arg(long, env = "FLASHSALE_BODY_LIMIT", default_value_t = 16 * 1024)]
    pub body_limit: usize,

    /// A built dashboard folder (`dashboard/dist`) to serve at `/` instead
    /// of the one built into the binary.
    #[arg(long, env = "FLASHSALE_DASHBOARD_DIR")]
    pub dashboard_dir: Option<PathBuf>,

    /// Redis URL: with the AMQP and database URLs, runs on the real stack.
    /// Several URLs, comma-separated, name the nodes of a Redis Cluster.
    #[arg(long, env = "FLASHSALE_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// RabbitMQ URL (real stack).
    #[arg(long, env = "FLASHSALE_AMQP_URL", hide_env_values = true)]
    pub amqp_url: Option<String>,

    /// The RabbitMQ order queue (its dead-letter queue is `<name>.dlq`).
    #[arg(long, env = "FLASHSALE_AMQP_QUEUE", default_value = "orders")]
    pub amqp_queue: String,

    /// How long a Redis call waits for its answer, in milliseconds. A purchase
    /// that times out is answered 503 `unavailable` though it may have been
    /// reserved; the buyer's retry with the same Idempotency-Key finds it.
    #[arg(long, env = "FLASHSALE_REDIS_TIMEOUT_MS", default_value_t = 2_000,
          value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub redis_timeout_ms: u64,

    /// Accept a Redis whose maxmemory-policy evicts keys. Under memory
    /// pressure it drops buyers' counts, idempotency records and answered
    /// reservations; the engine refuses to start on it unless this is set.
    #[arg(long, env = "FLASHSALE_REDIS_ALLOW_EVICTION", default_value_t = false)]
    pub redis_allow_eviction: bool,

    /// The most reservations of one sale an inventory decides in one Redis
    /// script call. Requests that arrive while the sale's calls are under
    /// way go together in the next call, each decided in arrival order as
    /// if alone; a lone request never waits. 1 turns batching off: each
    /// request is its own call, at once.
    #[arg(long, env = "FLASHSALE_REDIS_RESERVE_BATCH", default_value_t = flashsale_stack::redis::DEFAULT_RESERVE_BATCH as u64,
          value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub redis_reserve_batch: u64,

    /// Replicas of the master that must acknowledge a reservation (Redis
    /// `WAIT`, at most 500 ms) before its buyer gets the 202, so that the
    /// 202 survives the loss of the master's host; 0: answered at once.
    /// Without the acknowledgement the buyer gets 503 and finds the
    /// reservation by retrying with the same Idempotency-Key.
    #[arg(long, env = "FLASHSALE_REDIS_REPLICAS_ACK", default_value_t = 0,
          value_parser = clap::value_parser!(u64).range(0..=16))]
    pub redis_replicas_ack: u64,

    /// How long a reservation left in flight by a failure (neither stored
    /// nor in the outbox, with the order queue empty) waits before its units
    /// go back on sale, in milliseconds. Keep it above the broker's heartbeat.
    #[arg(long, env = "FLASHSALE_SWEEP_AFTER_MS", default_value_t = 60_000,
          value_parser = clap::value_parser!(u64).range(1_000..=86_400_000))]
    pub sweep_after_ms: u64,

    /// How long an ended sale waits, once its pipeline drained, before its
    /// archive (its live records leave Redis, it leaves every background
    /// loop; its ledger stays): seconds, or a number with s, m, h or d; 0
    /// archives at once.
    #[arg(long, env = "FLASHSALE_ARCHIVE_AFTER", default_value = "1h", value_parser = archive_after)]
    pub archive_after: Duration,

    /// How log lines are written to stderr: `text` (for people) or `json`
    /// (one object per line: timestamp, level, message and fields, for a
    /// log pipeline). `FLASHSALE_LOG` filters either.
    #[arg(long, env = "FLASHSALE_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,

    /// Who tells the engine an order is paid: `webhook` (only the payment
    /// provider's signed webhook) or `simulated` (buyers pay their own
    /// orders with `POST /api/orders/{id}/pay`: for demos) [default:
    /// simulated in embedded mode, webhook on the real stack].
    #[arg(long, env = "FLASHSALE_PAYMENTS", value_parser = ["simulated", "webhook"])]
    pub payments: Option<String>,

    /// HMAC key of the payment provider's webhook (`POST
    /// /api/payments/webhook`, header `FlashSale-Signature`); the webhook
    /// answers 404 without it. It works in every payment mode.
    #[arg(long, env = "FLASHSALE_PAYMENT_WEBHOOK_SECRET", hide_env_values = true)]
    pub payment_webhook_secret: Option<String>,

    /// Where the order service sends the shop its events (`order.confirmed`,
    /// `.paid`, `.expired`, `.cancelled`, `.void`), at least once, from an
    /// outbox in the order ledger; http:// only. Needs
    /// FLASHSALE_WEBHOOK_SECRET.
    #[arg(long, env = "FLASHSALE_WEBHOOK_URL")]
    pub webhook_url: Option<String>,

    /// HMAC key the shop's events are signed with (`FlashSale-Signature`).
    #[arg(long, env = "FLASHSALE_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,

    /// PostgreSQL URL (real stack).
    #[arg(long, env = "FLASHSALE_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// The product service's replicas (`flashsale gateway`), comma-separated.
    #[arg(long, env = "FLASHSALE_PRODUCT_URL", default_value = "http://127.0.0.1:8081")]
    pub product_url: String,

    /// The inventory service's replicas (`flashsale gateway`), comma-separated.
    #[arg(
        long,
        env = "FLASHSALE_INVENTORY_URL",
        default_value = "http://127.0.0.1:8082"
    )]
    pub inventory_url: String,

    /// The order service's replicas (`flashsale gateway`), comma-separated.
    #[arg(long, env = "FLASHSALE_ORDER_URL", default_value = "http://127.0.0.1:8083")]
    pub order_url: String,
}

/// What buyer tokens must carry besides a valid signature and `exp`.
#[derive(Debug, Clone, Args)]
pub struct JwtSettings {
    /// When set, buyer tokens must carry exactly this `iss`.
    #[arg(long = "jwt-issuer", env = "FLASHSALE_JWT_ISSUER")]
    pub issuer: Option<String>,

    /// When set, buyer tokens' `aud` must be or list this.
    #[arg(long = "jwt-audience", env = "FLASHSALE_JWT_AUDIENCE")]
    pub audience: Option<String>,

    /// The longest a buyer token may live (`exp` after now and after
    /// `iat`): seconds, or a number with s, m, h or d. A leaked token is
    /// refused once past it.
    #[arg(long = "jwt-max-ttl", env = "FLASHSALE_JWT_MAX_TTL", default_value = "24h",
          value_parser = parse_duration_arg)]
    pub max_ttl: Duration,

    /// The shop's identity provider's keys (its JWKS, `https://`; `http://`
    /// only on loopback). Buyer tokens signed with them (RS256, ES256, …)
    /// are accepted; see `FLASHSALE_JWT_ALGORITHMS`.
    #[arg(long = "jwt-jwks-url", env = "FLASHSALE_JWT_JWKS_URL")]
    pub jwks_url: Option<String>,

    /// The buyer-token algorithms accepted, comma-separated. Default:
    /// `HS256` (the engine's secret) without a JWKS, `RS256,ES256` with
    /// one; list `HS256` too to keep `flashsale token` working beside the
    /// provider.
    #[arg(long = "jwt-algorithms", env = "FLASHSALE_JWT_ALGORITHMS")]
    pub algorithms: Option<String>,

    /// The shortest wait between two fetches of the JWKS when tokens name
    /// keys it does not hold (a key rotation): seconds, or with s, m, h.
    #[arg(long = "jwt-jwks-min-refresh", env = "FLASHSALE_JWT_JWKS_MIN_REFRESH", default_value = "60s",
          value_parser = parse_duration_arg)]
    pub jwks_min_refresh: Duration,
}

impl Default for JwtSettings {
    fn default() -> Self {
        Self {
            issuer: None,
            audience: None,
            max_ttl: Duration::from_secs(DEFAULT_MAX_LIFETIME_SECS.unsigned_abs()),
            jwks_url: None,
            algorithms: None,
            jwks_min_refresh: flashsale_gateway::auth::jwks::DEFAULT_MIN_REFRESH,
        }
    }
}

fn parse_duration_arg(raw: &str) -> Result<Duration, String> {
    crate::token::parse_ttl(raw).map_err(|e| e.to_string())
}

impl JwtSettings {
    /// The gateway's rules for buyer tokens.
    pub fn rules(&self) -> Rules {
        Rules {
            issuer: self.issuer.clone().filter(|s| !s.is_empty()),
            audience: self.audience.clone().filter(|s| !s.is_empty()),
            max_lifetime_secs: i64::try_from(self.max_ttl.as_secs()).unwrap_or(i64::MAX),
        }
    }

    /// The identity provider's JWKS URL, when one is set.
    pub fn jwks_url(&self) -> Option<&str> {
        self.jwks_url.as_deref().map(str::trim).filter(|u| !u.is_empty())
    }

    /// The algorithms allowed: as listed, or the default for this setup.
    pub fn algorithms(&self) -> Result<Vec<Algorithm>, TokenSettingsError> {
        let default = if self.jwks_url().is_some() {
            "RS256,ES256"
        } else {
            "HS256"
        };
        parse_algorithms(self.algorithms.as_deref().unwrap_or(default))
    }

    /// How the gateway verifies buyer tokens. Builds the JWKS client but
    /// fetches nothing.
    pub fn buyer_tokens(&self, secret: &[u8]) -> Result<BuyerTokens, BuyerTokenSettingsError> {
        let jwks = match self.jwks_url() {
            Some(url) => Some(Arc::new(Jwks::new(url, self.jwks_min_refresh)?)),
            None => None,
        };
        Ok(BuyerTokens::new(secret, self.algorithms()?, jwks, self.rules())?)
    }
}

/// Why the buyer-token settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum BuyerTokenSettingsError {
    #[error(transparent)]
    Algorithms(#[from] TokenSettingsError),
    #[error(transparent)]
    Jwks(#[from] JwksError),
}

impl Settings {
    /// `FLASHSALE_BIND`, or the default address of this kind of process.
    pub fn bind_or(&self, default_port: u16) -> SocketAddr {
        self.bind
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], default_port)))
    }

    /// [`Self::redis_timeout_ms`] as a duration.
    pub fn redis_timeout(&self) -> Duration {
        Duration::from_millis(self.redis_timeout_ms)
    }

    /// [`Self::sweep_after_ms`] as a duration.
    pub fn sweep_after(&self) -> Duration {
        Duration::from_millis(self.sweep_after_ms)
    }

    /// Whether any real-stack store is configured.
    /// The payment settings, with the mode's default.
    pub fn payments(&self) -> Payments {
        let mode = self
            .payments
            .as_deref()
            .and_then(PaymentMode::parse)
            .unwrap_or(if self.wants_stack() {
                PaymentMode::Webhook
            } else {
                PaymentMode::Simulated
            });
        Payments {
            mode,
            webhook_secret: self.payment_webhook_secret.clone().filter(|s| !s.is_empty()),
        }
    }

    /// Where the shop's events go, if anywhere.
    pub fn shop_endpoint(
        &self,
    ) -> Result<Option<crate::shop_webhooks::ShopEndpoint>, crate::shop_webhooks::WebhookSettingsError> {
        crate::shop_webhooks::ShopEndpoint::from_settings(
            self.webhook_url.as_deref(),
            self.webhook_secret.as_deref(),
        )
    }

    pub fn wants_stack(&self) -> bool {
        self.redis_url.is_some() || self.amqp_url.is_some() || self.database_url.is_some()
    }
}

/// `raw` as a duration: seconds, or a number with `s`, `m`, `h` or `d`;
/// at most 366 days.
pub fn parse_duration(raw: &str) -> Option<Duration> {
    let (number, unit) = match raw.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&raw[..i], c),
        _ => (raw, 's'),
    };
    let n: u64 = number.parse().ok()?;
    match unit {
        's' => Some(n),
        'm' => n.checked_mul(60),
        'h' => n.checked_mul(3600),
        'd' => n.checked_mul(86_400),
        _ => None,
    }
    .filter(|s| *s <= 366 * 86_400)
    .map(Duration::from_secs)
}

fn archive_after(raw: &str) -> Result<Duration, String> {
    parse_duration(raw)
        .ok_or_else(|| format!("{raw:?}: seconds, or a number with s, m, h or d, at most 366 days"))
}
