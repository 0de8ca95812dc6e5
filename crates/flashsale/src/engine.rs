//! The engine as `flashsale up` and `flashsale gateway` run it: the gateway
//! over its services (in this process for `up`, clients of the service
//! processes for `gateway`), serving and shutting down gracefully.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use flashsale_gateway::{Gateway, GatewayConfig};

use crate::assembly::{self, Assembled};
use crate::error::StartError;
use crate::lifecycle::{self, Background};
use crate::secrets::{self, Secret};
use crate::settings::Settings;

/// A started, listening gateway over its services.
pub struct Engine {
    gateway: Gateway,
    admin_token: Secret,
    jwt_secret: Secret,
    summary: Vec<String>,
    background: Background,
}

impl Engine {
    /// Starts what `flashsale up` runs: every service in this process, on
    /// the real stack when the store URLs are set, embedded otherwise. Does
    /// not serve yet.
    pub async fn start(settings: &Settings) -> Result<Self, StartError> {
        let secrets = secrets::secrets(settings)?;
        let assembled = if settings.wants_stack() {
            assembly::stack::assemble(settings).await?
        } else {
            assembly::embedded::assemble(settings).await?
        };
        Self::bind(settings, assembled, secrets).await
    }

    /// Starts what `flashsale gateway` runs: the public API over the
    /// service processes. Does not serve yet.
    pub async fn gateway(settings: &Settings) -> Result<Self, StartError> {
        let secrets = secrets::secrets(settings)?;
        let token = secrets::service_token(settings, &secrets.0, &secrets.1)?;
        let assembled = assembly::gateway::assemble(settings, &token).await?;
        Self::bind(settings, assembled, secrets).await
    }

    /// Binds the gateway over assembled services.
    async fn bind(
        settings: &Settings,
        assembled: Assembled,
        (admin_token, jwt_secret): (Secret, Secret),
    ) -> Result<Self, StartError> {
        let buyer_tokens = match settings.jwt.buyer_tokens(jwt_secret.value.as_bytes()) {
            Ok(tokens) => Arc::new(tokens),
            Err(e) => {
                assembled.background.stop().await;
                return Err(e.into());
            }
        };
        if let Some(jwks) = buyer_tokens.jwks() {
            // A provider that is down must not keep the gateway from
            // serving operators; buyers' tokens wait for its keys.
            match jwks.refresh().await {
                Ok(keys) => tracing::info!(keys, url = jwks.url(), "buyer-token keys fetched"),
                Err(e) => {
                    tracing::warn!(error = %e, "buyer-token keys not fetched yet; retried on the next token")
                }
            }
        }
        let config = GatewayConfig {
            admin_token: admin_token.value.clone(),
            buyer_tokens,
            rate_per_ip: settings.rate_per_ip,
            rate_per_user: settings.rate_per_user,
            max_in_flight: settings.max_in_flight.max(1),
            body_limit: settings.body_limit,
            dashboard_dir: settings.dashboard_dir.clone(),
            payments: settings.payments(),
        };
        let mut summary = assembled.summary;
        summary.push(config.buyer_tokens.describe());
        summary.push(format!("payments: {}", config.payments.describe()));
        if let Ok(Some(shop)) = settings.shop_endpoint() {
            summary.push(shop.describe());
        }
        let addr = settings.bind_or(8080);
        let gateway = match Gateway::bind(addr, config, assembled.services).await {
            Ok(gateway) => gateway,
            Err(source) => {
                // What was started must still finish (the embedded writer
                // holds the data folder's lock until it stops).
                assembled.background.stop().await;
                return Err(StartError::Bind { addr, source });
            }
        };
        Ok(Self {
            gateway,
            admin_token,
            jwt_secret,
            summary,
            background: assembled.background,
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
        let gateway = self.gateway;
        lifecycle::serve_until(move |stop| gateway.serve(stop), shutdown, self.background).await
    }
}
