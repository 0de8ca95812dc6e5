//! `flashsale gateway`: the public API over HTTP clients of the service
//! processes, with their events from Redis when it is given.

use std::sync::Arc;
use std::time::Duration;

use flashsale_gateway::events::EventLog;
use flashsale_gateway::upstream::health;
use flashsale_gateway::upstream::remote::{RemoteInventory, RemoteOrders, RemoteProduct, Upstream};
use flashsale_gateway::{Mode, Services};
use flashsale_stack::redis::subscribe_events;

use super::{stack, Assembled};
use crate::error::StartError;
use crate::lifecycle::Background;
use crate::settings::Settings;

/// How long the gateway waits for a service before answering 503.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(5);

/// Clients of every service's replicas, authenticated with `service_token`.
pub async fn assemble(settings: &Settings, service_token: &str) -> Result<Assembled, StartError> {
    let upstream = |name, urls: &str| {
        Upstream::new(name, urls, service_token, UPSTREAM_TIMEOUT)
            .map(Arc::new)
            .map_err(|e| StartError::ServiceUrl(e.to_string()))
    };
    let product = upstream("product", &settings.product_url)?;
    let inventory = upstream("inventory", &settings.inventory_url)?;
    let orders = upstream("order", &settings.order_url)?;
    let events = Arc::new(EventLog::default());
    let mut background = Background::default();
    let mut summary = vec![
        "mode: gateway of the production topology".to_owned(),
        format!("product: {}", product.bases().join(", ")),
        format!("inventory: {}", inventory.bases().join(", ")),
        format!("order: {}", orders.bases().join(", ")),
    ];
    if let Some(url) = &settings.redis_url {
        let stock = stack::redis(url, settings.redis_timeout()).await?;
        let task = subscribe_events(stock.nodes().clone(), events.clone())
            .await
            .map_err(|e| StartError::Store {
                store: "redis",
                reason: e.to_string(),
            })?;
        background.abort_on_stop("events subscription", task);
        summary.push("events: the services' events, from Redis".to_owned());
    }
    let probes = health::probes(vec![
        ("product", product.clone()),
        ("inventory", inventory.clone()),
        ("order", orders.clone()),
    ]);
    let services = Services {
        mode: Mode::Stack,
        product: Arc::new(RemoteProduct(product)),
        inventory: Arc::new(RemoteInventory(inventory)),
        orders: Arc::new(RemoteOrders(orders)),
        events,
        probes,
        metrics: Vec::new(),
    };
    Ok(Assembled {
        services,
        summary,
        background,
    })
}
