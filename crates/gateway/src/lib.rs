//! The gateway: the only public door of the engine.
//!
//! # Layout
//! - [`routes`]: the router; [`routes::buyer`] (sales, purchase, orders),
//!   [`routes::admin`] (operator actions, stats), [`routes::ops`] (health,
//!   metrics, the SSE stream).
//! - [`auth`]: buyer JWTs ([`auth::jwt`]) and the admin token.
//! - [`rate_limit`]: GCRA per IP and per buyer.
//! - [`error`]: [`error::ErrorCode`], every code the API answers with, the one
//!   error type and the contract's error body.
//! - [`dto`]: the JSON shapes of the contract.
//! - [`events`]: the event log behind the dashboard's feed.
//! - [`telemetry`]: counters, rates, p99, Prometheus text.
//! - [`stampede`]: the simulated stampede the dashboard launches.
//! - [`payments`]: the payment webhook's signature and shapes, and the
//!   payment mode (a provider's webhook, or simulated for demos); the
//!   routes are [`routes::checkout`].
//! - [`pages`]: the dashboard and the shop page built into the binary.
//! - [`openapi`]: the OpenAPI document, served and printed (`flashsale openapi`).
//! - [`health`]: the `/api/health` answer from the probes (the `HealthProbe`
//!   port is the domain's).
//! - [`upstream`]: the services as the gateway sees them: in process, or
//!   HTTP clients of the service processes ([`upstream::remote`]), whose
//!   health the gateway reports ([`upstream::health`]).
//! - [`draw_waiters`]: purchases waiting in a fair start's draw, one
//!   question per sale for all of them.
//! - [`live`]: the public live feed of a sale's figures, one reader per
//!   watched sale shared by all its watchers.
//! - [`internal`]: the HTTP API of a service process (product, inventory,
//!   order) that those clients call.
//!
//! [`Gateway::bind`] then [`Gateway::serve`]: binding port 0 is what tests do.

pub mod auth;
pub mod draw_waiters;
pub mod dto;
pub mod error;
pub mod events;
pub mod health;
pub mod internal;
pub mod listen;
pub mod live;
pub mod openapi;
pub mod pages;
pub mod payments;
pub mod rate_limit;
pub mod routes;
pub mod stampede;
pub mod state;
pub mod telemetry;
pub mod upstream;

use std::future::Future;
use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::sync::watch;

pub use state::{AppState, GatewayConfig, Mode, Services};
pub use telemetry::MetricsSource;

/// A bound, not yet serving, gateway.
pub struct Gateway {
    listener: TcpListener,
    state: AppState,
    stop: watch::Sender<bool>,
}

impl Gateway {
    /// Binds `addr` (port 0 picks a free port).
    pub async fn bind(addr: SocketAddr, config: GatewayConfig, services: Services) -> std::io::Result<Self> {
        let listener = listen::listen(addr)?;
        let (stop, stopped) = watch::channel(false);
        Ok(Self {
            listener,
            state: AppState::new(config, services, stopped),
            stop,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then stops accepting, ends the
    /// event streams and waits for the requests in flight (purchases
    /// included) to be answered.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let Self {
            listener,
            state,
            stop,
        } = self;
        let mut chores_stop = stop.subscribe();
        let chores = tokio::spawn(routes::run_chores(state.clone(), async move {
            let _ = chores_stop.wait_for(|s| *s).await;
        }));
        let app = routes::router(state).into_make_service_with_connect_info::<SocketAddr>();
        let result = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                shutdown.await;
                let _ = stop.send(true);
            })
            .await;
        let _ = chores.await;
        result
    }
}
