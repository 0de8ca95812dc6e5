//! What every handler can reach: configuration, services and counters.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use flashsale_domain::HealthProbe;
use tokio::sync::{watch, Semaphore};

use crate::events::EventLog;
use crate::rate_limit::RateLimiter;
use crate::telemetry::Telemetry;
use crate::upstream::{InventoryApi, OrderApi, ProductApi};

/// The gateway's settings.
#[derive(Clone)]
pub struct GatewayConfig {
    /// Operators present this as `Authorization: Bearer <token>`.
    pub admin_token: String,
    /// How buyer JWTs are verified: algorithms, keys, claims required.
    pub buyer_tokens: Arc<crate::auth::tokens::BuyerTokens>,
    /// Sustained requests per second per client IP on buyer routes; 0 = off.
    pub rate_per_ip: u32,
    /// Sustained purchase attempts per second per buyer; 0 = off.
    pub rate_per_user: u32,
    /// Purchases being processed at once; more are shed with 503.
    pub max_in_flight: usize,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// A built dashboard folder served at `/`; `None`: the one in the binary.
    pub dashboard_dir: Option<PathBuf>,
    /// Who may pay orders, and the webhook's secret.
    pub payments: crate::payments::Payments,
}

impl fmt::Debug for GatewayConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayConfig")
            .field("admin_token", &"<redacted>")
            .field("buyer_tokens", &self.buyer_tokens)
            .field("rate_per_ip", &self.rate_per_ip)
            .field("rate_per_user", &self.rate_per_user)
            .field("max_in_flight", &self.max_in_flight)
            .field("body_limit", &self.body_limit)
            .field("dashboard_dir", &self.dashboard_dir)
            .field("payments", &self.payments)
            .finish()
    }
}

/// Which stores the engine runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// One process, memory and SQLite.
    Embedded,
    /// Redis, RabbitMQ and PostgreSQL.
    Stack,
}

/// The services behind the gateway: in this process, or clients of
/// service processes.
pub struct Services {
    pub mode: Mode,
    pub product: Arc<dyn ProductApi>,
    pub inventory: Arc<dyn InventoryApi>,
    pub orders: Arc<dyn OrderApi>,
    pub events: Arc<EventLog>,
    /// Checked by `/api/health`, in this order.
    pub probes: Vec<Arc<dyn HealthProbe>>,
    /// Appended to `/metrics`.
    pub metrics: Vec<crate::MetricsSource>,
}

pub(crate) struct Inner {
    pub feeds: Arc<crate::live::SaleFeeds>,
    pub config: GatewayConfig,
    pub services: Services,
    pub telemetry: Telemetry,
    pub ip_limit: Option<RateLimiter>,
    pub user_limit: Option<RateLimiter>,
    pub purchase_slots: Arc<Semaphore>,
    /// Purchases waiting in a fair start's draw.
    pub draw_waiters: Arc<crate::draw_waiters::DrawWaiters>,
    pub stampede_running: AtomicBool,
    /// Flips to true when the server starts shutting down; long-lived
    /// streams end on it so that graceful shutdown does not wait for them.
    pub shutdown: watch::Receiver<bool>,
}

/// Shared state of the gateway. Cheap to clone.
#[derive(Clone)]
pub struct AppState(pub(crate) Arc<Inner>);

impl AppState {
    /// `shutdown` turns true when the server stops.
    pub fn new(config: GatewayConfig, services: Services, shutdown: watch::Receiver<bool>) -> Self {
        Self(Arc::new(Inner {
            ip_limit: RateLimiter::new("per-ip", config.rate_per_ip, config.rate_per_ip),
            user_limit: RateLimiter::new("per-user", config.rate_per_user, config.rate_per_user),
            purchase_slots: Arc::new(Semaphore::new(config.max_in_flight)),
            draw_waiters: Arc::default(),
            stampede_running: AtomicBool::new(false),
            telemetry: Telemetry::default(),
            feeds: Arc::default(),
            config,
            services,
            shutdown,
        }))
    }

    pub fn config(&self) -> &GatewayConfig {
        &self.0.config
    }

    pub fn services(&self) -> &Services {
        &self.0.services
    }

    pub fn telemetry(&self) -> &Telemetry {
        &self.0.telemetry
    }

    pub fn events(&self) -> &Arc<EventLog> {
        &self.0.services.events
    }
}
