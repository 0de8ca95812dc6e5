//! HTTP clients of the service processes, for the gateway of the production
//! topology.
//!
//! One pooled keep-alive client per service, spread round-robin over the
//! replicas listed in `FLASHSALE_{PRODUCT,INVENTORY,ORDER}_URL`. A replica
//! that refuses the connection is skipped for the next one (the request
//! never left, so trying again is safe); any other failure, including a
//! timeout, is answered 503 `unavailable`, since the request may have been
//! carried out: buyers retry with their `Idempotency-Key`. Every call
//! carries the admin token, which the services require.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use flashsale_domain::ports::{DrawAnswer, DrawPhase};
use flashsale_domain::{
    IdempotencyKey, Order, OrderChange, OrderId, OrderTotals, Quantity, Reservation, SaleDraft, SaleId,
    Transition, UserId,
};
use flashsale_inventory::{DrawWait, DrawWaits, PurchaseReceipt};
use flashsale_product::{SalePage, SaleQuery, SaleView};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{InventoryApi, OrderApi, ProductApi};
use crate::error::ApiError;

/// The header the service processes check against the admin token.
pub const INTERNAL_TOKEN_HEADER: &str = "x-flashsale-internal";

/// Why a list of service URLs was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an http://host:port URL")]
pub struct UrlError(pub String);

/// The replicas of one service.
pub struct Upstream {
    name: &'static str,
    bases: Vec<String>,
    next: AtomicUsize,
    client: Client<HttpConnector, Full<Bytes>>,
    token: String,
    timeout: Duration,
    /// Calls under way: past [`CONCURRENT_CALLS`] a call waits (within its
    /// timeout) for one to end rather than open one more connection.
    calls: tokio::sync::Semaphore,
}

/// Calls a gateway makes to one service at once. Each call in flight holds
/// an HTTP/1 connection: uncapped, a stampede (or buyers entering a draw)
/// opened thousands at once, the services' accept queues overflowed, and
/// the gateways answered `503` to buyers whose calls could not connect
/// within a second (100,000 buyers entering a draw over six gateways).
/// Capped, the connections stay open and are reused.
pub const CONCURRENT_CALLS: usize = 512;

/// A purchase as the inventory service receives it.
#[derive(Debug, Serialize, Deserialize)]
pub struct PurchaseCall {
    pub sale_id: SaleId,
    pub user_id: UserId,
    pub quantity: Quantity,
    pub idempotency_key: Option<IdempotencyKey>,
}

/// Where buyers' attempts stand in a sale's opening draw, as the inventory
/// service is asked for it: answered with one [`DrawWaitAnswer`] per buyer,
/// in their order.
#[derive(Debug, Serialize, Deserialize)]
pub struct DrawWaitCall {
    pub sale_id: SaleId,
    pub user_ids: Vec<UserId>,
}

/// [`DrawWaits`] on the wire.
#[derive(Debug, Serialize, Deserialize)]
pub struct DrawWaitsAnswer {
    pub phase: Option<DrawPhase>,
    pub served: u64,
    pub waits: Vec<DrawWaitAnswer>,
}

impl From<DrawWaits> for DrawWaitsAnswer {
    fn from(w: DrawWaits) -> Self {
        Self {
            phase: w.phase,
            served: w.served,
            waits: w.waits.into_iter().map(DrawWaitAnswer::from).collect(),
        }
    }
}

/// [`DrawWait`] on the wire: an answer in its one-line form.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DrawWaitAnswer {
    Answered(String),
    Waiting,
    NotEntered,
}

impl From<DrawWait> for DrawWaitAnswer {
    fn from(wait: DrawWait) -> Self {
        match wait {
            DrawWait::Answered(answer) => DrawWaitAnswer::Answered(answer.encode()),
            DrawWait::Waiting => DrawWaitAnswer::Waiting,
            DrawWait::NotEntered => DrawWaitAnswer::NotEntered,
        }
    }
}

impl TryFrom<DrawWaitAnswer> for DrawWait {
    type Error = ApiError;
    fn try_from(wait: DrawWaitAnswer) -> Result<Self, ApiError> {
        Ok(match wait {
            DrawWaitAnswer::Answered(raw) => DrawWait::Answered(
                DrawAnswer::decode(&raw)
                    .map_err(|e| ApiError::Internal(format!("inventory answered {e}")))?,
            ),
            DrawWaitAnswer::Waiting => DrawWait::Waiting,
            DrawWaitAnswer::NotEntered => DrawWait::NotEntered,
        })
    }
}

/// A keyed retry's first answer, as the order service is asked for it.
#[derive(Debug, Serialize, Deserialize)]
pub struct FirstAnswerCall {
    pub sale: SaleId,
    pub user: UserId,
    pub key: IdempotencyKey,
}

/// Whose order a payment or a cancel is for (`None`: any buyer's, the
/// payment webhook).
#[derive(Debug, Serialize, Deserialize)]
pub struct OwnerCall {
    pub user: Option<UserId>,
}

/// A stock change as the product service receives it.
#[derive(Debug, Serialize, Deserialize)]
pub struct StockCall {
    pub delta: i64,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    code: String,
    message: String,
}

impl Upstream {
    /// `urls`: comma-separated `http://host:port` of the replicas.
    pub fn new(name: &'static str, urls: &str, token: &str, timeout: Duration) -> Result<Self, UrlError> {
        let bases: Vec<String> = urls
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(|u| {
                let base = u.trim_end_matches('/');
                let ok = base
                    .strip_prefix("http://")
                    .is_some_and(|rest| !rest.is_empty() && !rest.contains('/'));
                if ok {
                    Ok(base.to_owned())
                } else {
                    Err(UrlError(u.to_owned()))
                }
            })
            .collect::<Result<_, _>>()?;
        if bases.is_empty() {
            return Err(UrlError(urls.to_owned()));
        }
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(1)));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Ok(Self {
            name,
            bases,
            next: AtomicUsize::new(0),
            client,
            token: token.to_owned(),
            timeout,
            calls: tokio::sync::Semaphore::new(CONCURRENT_CALLS),
        })
    }

    /// The replicas' base URLs.
    pub fn bases(&self) -> &[String] {
        &self.bases
    }

    /// Calls `path` on the next replica; on a refused connection, on the
    /// one after, once around.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<T, ApiError> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let Ok(Ok(_call)) = tokio::time::timeout_at(deadline, self.calls.acquire()).await else {
            return Err(ApiError::Unavailable(format!(
                "{}: {CONCURRENT_CALLS} calls under way, none ended in time",
                self.name
            )));
        };
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        // The caller's span, for the service to continue the trace.
        let traceparent = flashsale_trace::current_traceparent();
        let mut last = String::new();
        for i in 0..self.bases.len() {
            let base = &self.bases[(start + i) % self.bases.len()];
            let mut request = Request::builder()
                .method(method.clone())
                .uri(format!("{base}{path}"))
                .header(INTERNAL_TOKEN_HEADER, &self.token)
                .header("content-type", "application/json");
            if let Some(traceparent) = &traceparent {
                request = request.header("traceparent", traceparent);
            }
            let request = request
                .body(Full::new(Bytes::from(body.clone().unwrap_or_default())))
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            let response = match tokio::time::timeout_at(deadline, self.client.request(request)).await {
                Ok(Ok(response)) => response,
                Ok(Err(e)) if e.is_connect() => {
                    last = format!("{base}: {e}");
                    continue;
                }
                Ok(Err(e)) => return Err(ApiError::Unavailable(format!("{} at {base}: {e}", self.name))),
                Err(_) => {
                    return Err(ApiError::Unavailable(format!(
                        "{} at {base}: no answer in time",
                        self.name
                    )))
                }
            };
            let status = response.status();
            let bytes = tokio::time::timeout(self.timeout, response.into_body().collect())
                .await
                .map_err(|_| ApiError::Unavailable(format!("{} at {base}: body timed out", self.name)))?
                .map_err(|e| ApiError::Unavailable(format!("{} at {base}: {e}", self.name)))?
                .to_bytes();
            if status.is_success() {
                return serde_json::from_slice(&bytes)
                    .map_err(|e| ApiError::Internal(format!("{} answered malformed JSON: {e}", self.name)));
            }
            return Err(match serde_json::from_slice::<ErrorBody>(&bytes) {
                Ok(body) => ApiError::from_code(&body.error.code, body.error.message),
                Err(_) => ApiError::Unavailable(format!("{} at {base} answered {status}", self.name)),
            });
        }
        Err(ApiError::Unavailable(format!(
            "no {} replica reachable ({last})",
            self.name
        )))
    }

    /// `GET /api/health` of every replica: `(base, status, body)`.
    pub async fn health(&self) -> Vec<(String, Result<(u16, serde_json::Value), String>)> {
        let checks = self.bases.iter().map(|base| async move {
            let request = Request::get(format!("{base}/api/health"))
                .body(Full::new(Bytes::new()))
                .expect("valid request");
            let result = async {
                let response = tokio::time::timeout(Duration::from_secs(2), self.client.request(request))
                    .await
                    .map_err(|_| "no answer within 2 s".to_owned())?
                    .map_err(|e| e.to_string())?;
                let status = response.status().as_u16();
                let bytes = response
                    .into_body()
                    .collect()
                    .await
                    .map_err(|e| e.to_string())?
                    .to_bytes();
                Ok((status, serde_json::from_slice(&bytes).unwrap_or_default()))
            }
            .await;
            (base.clone(), result)
        });
        futures_util::future::join_all(checks).await
    }
}

fn json<T: Serialize>(value: &T) -> Option<Vec<u8>> {
    Some(serde_json::to_vec(value).expect("request bodies serialise"))
}

/// The product service, over HTTP.
pub struct RemoteProduct(pub Arc<Upstream>);

#[async_trait]
impl ProductApi for RemoteProduct {
    async fn list(&self) -> Result<Vec<SaleView>, ApiError> {
        self.0.call(Method::GET, "/internal/sales", None).await
    }
    async fn page(&self, query: SaleQuery) -> Result<SalePage, ApiError> {
        self.0
            .call(Method::POST, "/internal/sale-pages", json(&query))
            .await
    }
    async fn get(&self, id: SaleId) -> Result<SaleView, ApiError> {
        self.0
            .call(Method::GET, &format!("/internal/sales/{id}"), None)
            .await
    }
    async fn create(&self, draft: SaleDraft) -> Result<SaleView, ApiError> {
        self.0.call(Method::POST, "/internal/sales", json(&draft)).await
    }
    async fn transition(&self, id: SaleId, t: Transition) -> Result<SaleView, ApiError> {
        self.0
            .call(
                Method::POST,
                &format!("/internal/sales/{id}/{}", t.as_str()),
                None,
            )
            .await
    }
    async fn adjust_stock(&self, id: SaleId, delta: i64) -> Result<SaleView, ApiError> {
        self.0
            .call(
                Method::POST,
                &format!("/internal/sales/{id}/stock"),
                json(&StockCall { delta }),
            )
            .await
    }
    async fn flush_cache(&self) -> Result<usize, ApiError> {
        self.0.call(Method::POST, "/internal/cache/flush", None).await
    }
}

/// The inventory service, over HTTP.
pub struct RemoteInventory(pub Arc<Upstream>);

#[async_trait]
impl InventoryApi for RemoteInventory {
    async fn purchase(
        &self,
        sale_id: SaleId,
        user_id: UserId,
        quantity: Quantity,
        idempotency_key: Option<IdempotencyKey>,
    ) -> Result<PurchaseReceipt, ApiError> {
        let call = PurchaseCall {
            sale_id,
            user_id,
            quantity,
            idempotency_key,
        };
        self.0.call(Method::POST, "/internal/purchase", json(&call)).await
    }
    async fn draw_wait(&self, sale_id: SaleId, users: &[UserId]) -> Result<DrawWaits, ApiError> {
        let call = DrawWaitCall {
            sale_id,
            user_ids: users.to_vec(),
        };
        let answer: DrawWaitsAnswer = self
            .0
            .call(Method::POST, "/internal/draw-wait", json(&call))
            .await?;
        if answer.waits.len() != users.len() {
            return Err(ApiError::Internal(format!(
                "inventory answered {} draw waits for {} buyers",
                answer.waits.len(),
                users.len()
            )));
        }
        Ok(DrawWaits {
            phase: answer.phase,
            served: answer.served,
            waits: answer
                .waits
                .into_iter()
                .map(DrawWait::try_from)
                .collect::<Result<_, _>>()?,
        })
    }
    fn queue_depth(&self) -> u64 {
        0
    }
}

/// The order service, over HTTP.
pub struct RemoteOrders(pub Arc<Upstream>);

#[async_trait]
impl OrderApi for RemoteOrders {
    async fn order_for(&self, id: OrderId, user: &UserId) -> Result<Order, ApiError> {
        let user: String = url_escape(user.as_str());
        self.0
            .call(Method::GET, &format!("/internal/orders/{id}?user={user}"), None)
            .await
    }
    async fn totals(&self, sales: &[SaleId]) -> Result<HashMap<SaleId, OrderTotals>, ApiError> {
        self.0.call(Method::POST, "/internal/totals", json(&sales)).await
    }
    async fn first_answer(
        &self,
        sale: SaleId,
        user: &UserId,
        key: &IdempotencyKey,
    ) -> Result<Option<Reservation>, ApiError> {
        let call = FirstAnswerCall {
            sale,
            user: user.clone(),
            key: key.clone(),
        };
        self.0
            .call(Method::POST, "/internal/first-answer", json(&call))
            .await
    }
    async fn void(&self, id: OrderId) -> Result<Order, ApiError> {
        self.0
            .call(Method::POST, &format!("/internal/orders/{id}/void"), None)
            .await
    }
    async fn order(&self, id: OrderId) -> Result<Order, ApiError> {
        self.0
            .call(Method::GET, &format!("/internal/orders/{id}"), None)
            .await
    }
    async fn pay(&self, id: OrderId, user: Option<&UserId>) -> Result<OrderChange, ApiError> {
        let owner = OwnerCall { user: user.cloned() };
        self.0
            .call(Method::POST, &format!("/internal/orders/{id}/pay"), json(&owner))
            .await
    }
    async fn cancel(&self, id: OrderId, user: &UserId) -> Result<OrderChange, ApiError> {
        let owner = OwnerCall {
            user: Some(user.clone()),
        };
        self.0
            .call(
                Method::POST,
                &format!("/internal/orders/{id}/cancel"),
                json(&owner),
            )
            .await
    }
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
fn url_escape(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replica_lists_are_parsed_and_checked() {
        let up = Upstream::new(
            "product",
            "http://10.0.0.1:8081, http://10.0.0.2:8081/",
            "t",
            Duration::from_secs(1),
        )
        .unwrap();
        assert_eq!(up.bases(), ["http://10.0.0.1:8081", "http://10.0.0.2:8081"]);
        for bad in ["", " , ", "https://x:1", "10.0.0.1:8081", "http://x:1/path"] {
            assert!(
                Upstream::new("product", bad, "t", Duration::from_secs(1)).is_err(),
                "{bad:?}"
            );
        }
        assert_eq!(url_escape("a b/é"), "a%20b%2F%C3%A9");
    }
}
