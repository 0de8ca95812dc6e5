//! The engine as `flashsale up` and `flashsale gateway` run it: the gateway
//! over its services (in this process for `up`, clients of the service
//! processes for `gateway`), serving and shutting down gracefully.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use flashsale_gateway::auth::jwt;
use flashsale_gateway::{Gateway, GatewayConfig, Services};
use flashsale_product::ProductService;
use tokio::sync::watch;

use crate::secrets::{self, Secret};
use crate::settings::Settings;

pub const ADMIN_TOKEN_FILE: &str = "admin_token";
pub const JWT_SECRET_FILE: &str = "jwt_secret";

/// How often the schedule (`starts_at`, `ends_at`) is applied.
const SCHEDULE_EVERY: Duration = Duration::from_millis(250);
/// How long shutdown waits for answered requests before giving up.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(15);

/// Finishes the background work once no request is being served (commit
/// what was answered, drain the relay, stop the consumer and the schedule).
pub type Shutdown = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// Why the engine did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot create the data folder {path}: {source}")]
    DataDir { path: String, source: std::io::Error },
    #[error(
        "the data folder {0} is in use by another FlashSale engine: two engines on one folder would sell the same units twice; stop the other one, or give this one its own FLASHSALE_DATA_DIR"
    )]
    DataDirInUse(String),
    #[error(transparent)]
    Database(#[from] flashsale_sqlite::DbError),
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
    #[error(
        "the JWT secret is {0} bytes long; HS256 needs at least 32 random bytes (FLASHSALE_JWT_SECRET, or delete the stored one to generate a new one)"
    )]
    WeakJwtSecret(usize),
    #[error("refusing to run on this Redis: {0}")]
    UnsafeRedis(String),
    #[error(
        "FLASHSALE_SERVICE_TOKEN is the admin token: the internal API would open to every dashboard user; give it a secret of its own"
    )]
    ServiceTokenIsAdmin,
}

/// The admin token and the JWT secret: given, or kept in the data folder.
pub fn secrets(settings: &Settings) -> Result<(Secret, Secret), StartError> {
    std::fs::create_dir_all(&settings.data_dir).map_err(|source| StartError::DataDir {
        path: settings.data_dir.display().to_string(),
        source,
    })?;
    let admin = secrets::resolve(
        settings.admin_token.as_deref(),
        &settings.data_dir,
        ADMIN_TOKEN_FILE,
    )?;
    let jwt = secrets::resolve(
        settings.jwt_secret.as_deref(),
        &settings.data_dir,
        JWT_SECRET_FILE,
    )?;
    if jwt.value.len() < jwt::MIN_SECRET_LEN {
        return Err(StartError::WeakJwtSecret(jwt.value.len()));
    }
    Ok((admin, jwt))
}

/// The services' internal credential: given, or derived from the admin
/// token and the JWT secret (see [`Settings::service_token`]).
pub fn service_token(settings: &Settings, admin: &Secret, jwt: &Secret) -> Result<String, StartError> {
    match settings.service_token.as_deref().filter(|t| !t.is_empty()) {
        Some(token) if flashsale_gateway::auth::same_secret(token, &admin.value) => {
            Err(StartError::ServiceTokenIsAdmin)
        }
        Some(token) => Ok(token.to_owned()),
        None => Ok(flashsale_gateway::auth::derived_service_token(
            &admin.value,
            &jwt.value,
        )),
    }
}

/// Runs the sale schedule in the background; the returned shutdown stops it.
pub fn spawn_schedule(product: Arc<ProductService>) -> Shutdown {
    let (stop, mut stopped) = watch::channel(false);
    let task = tokio::spawn(product.run_schedule(SCHEDULE_EVERY, async move {
        let _ = stopped.wait_for(|s| *s).await;
    }));
    Box::new(move || {
        Box::pin(async move {
            let _ = stop.send(true);
            let _ = task.await;
        })
    })
}

/// Two shutdowns, one after the other.
pub fn then(first: Shutdown, second: Shutdown) -> Shutdown {
    Box::new(move || {
        Box::pin(async move {
            first().await;
            second().await;
        })
    })
}

/// A started, listening gateway over its services.
pub struct Engine {
    gateway: Gateway,
    admin_token: Secret,
    jwt_secret: Secret,
    summary: Vec<String>,
    shutdown: Shutdown,
}

impl Engine {
    /// Starts what `flashsale up` runs: every service in this process, on
    /// the real stack when the store URLs are set, embedded otherwise. Does
    /// not serve yet.
    pub async fn start(settings: &Settings) -> Result<Self, StartError> {
        if settings.wants_stack() {
            crate::stack::start(settings).await
        } else {
            crate::embedded::start(settings).await
        }
    }

    /// Binds the gateway over assembled services.
    pub(crate) async fn bind(
        settings: &Settings,
        services: Services,
        (admin_token, jwt_secret): (Secret, Secret),
        summary: Vec<String>,
        shutdown: Shutdown,
    ) -> Result<Self, StartError> {
        let config = GatewayConfig {
            admin_token: admin_token.value.clone(),
            jwt_secret: jwt_secret.value.clone(),
            jwt_rules: settings.jwt.rules(),
            rate_per_ip: settings.rate_per_ip,
            rate_per_user: settings.rate_per_user,
            max_in_flight: settings.max_in_flight.max(1),
            body_limit: settings.body_limit,
            dashboard_dir: Some(settings.dashboard_dir.clone()),
        };
        let addr = settings.bind_or(8080);
        let gateway = Gateway::bind(addr, config, services)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        Ok(Self {
            gateway,
            admin_token,
            jwt_secret,
            summary,
            shutdown,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.gateway.local_addr()
    }

    pub fn admin_token(&self) -> &Secret {
        &self.admin_token
    }

    pub fn jwt_secret(&self) -> &Secret {
        &self.jwt_secret
    }

    /// Lines for the start-up banner: the mode, what was restored.
    pub fn summary(&self) -> &[String] {
        &self.summary
    }

    /// Serves until `shutdown` resolves; then stops taking requests, lets
    /// every request in flight be answered, finishes the background work
    /// (every answered reservation committed or handed on), and returns.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (stop_tx, mut stop_rx) = watch::channel(false);
        let serve = self.gateway.serve(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        });
        tokio::pin!(serve);
        let served = tokio::select! {
            result = &mut serve => result,
            _ = async {
                let _ = stop_rx.wait_for(|s| *s).await;
                tokio::time::sleep(SHUTDOWN_GRACE).await;
            } => {
                tracing::warn!(message = "Requests still open after the grace period; closing them.");
                Ok(())
            }
        };
        (self.shutdown)().await;
        served
    }
}
