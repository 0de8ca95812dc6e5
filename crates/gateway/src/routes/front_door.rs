//! The middleware every request passes: the per-IP rate limit on the
//! buyers' routes, then, once answered, the count by route and status and
//! the auth failures for the event log.
//!
//! A plain `tower` service rather than `axum::middleware::from_fn`: on a
//! sold-out stampede every request passes here, and each `from_fn` layer
//! boxed a future and cloned the inner service per request (the two layers
//! this replaces made 13 of the 78 allocations of a sold-out answer,
//! `valgrind --tool=dhat`).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::{ConnectInfo, MatchedPath, Request};
use axum::response::{IntoResponse, Response};
use flashsale_domain::EventKind;
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::PURCHASE_ROUTE;
use crate::error::{ApiError, ErrorCode, ErrorInfo};
use crate::state::AppState;

/// The buyers' routes, limited per IP.
const PER_IP_ROUTES: [&str; 7] = [
    "/api/sales",
    "/api/sales/{id}",
    "/api/sales/{id}/live",
    PURCHASE_ROUTE,
    "/api/orders/{order_id}",
    "/api/orders/{order_id}/pay",
    "/api/orders/{order_id}/cancel",
];

/// Puts [`FrontDoor`] around every route.
#[derive(Clone)]
pub struct FrontDoorLayer(pub AppState);

impl<S> Layer<S> for FrontDoorLayer {
    type Service = FrontDoor<S>;

    fn layer(&self, inner: S) -> FrontDoor<S> {
        FrontDoor {
            inner,
            state: self.0.clone(),
        }
    }
}

/// See the module docs.
#[derive(Clone)]
pub struct FrontDoor<S> {
    inner: S,
    state: AppState,
}

impl<S> Service<Request> for FrontDoor<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Answer<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let route = request.extensions().get::<MatchedPath>().cloned();
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| *addr);
        let api = request.uri().path().starts_with("/api");
        let refused = route
            .as_ref()
            .filter(|route| PER_IP_ROUTES.contains(&route.as_str()))
            .and_then(|_| limit_per_ip(&self.state, peer));
        let inner = match refused {
            Some(response) => Inner::Refused {
                response: Some(response),
            },
            None => Inner::Passed {
                future: self.inner.call(request),
            },
        };
        Answer {
            inner,
            state: self.state.clone(),
            route,
            peer,
            api,
        }
    }
}

pin_project! {
    #[project = InnerProjection]
    enum Inner<F> {
        Refused { response: Option<Response> },
        Passed { #[pin] future: F },
    }
}

pin_project! {
    /// The answer of a route, counted when it is ready.
    pub struct Answer<F> {
        #[pin]
        inner: Inner<F>,
        state: AppState,
        route: Option<MatchedPath>,
        peer: Option<SocketAddr>,
        api: bool,
    }
}

impl<F> Future for Answer<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = match this.inner.project() {
            InnerProjection::Refused { response } => response.take().expect("an answer is polled once done"),
            InnerProjection::Passed { future } => match future.poll(cx) {
                Poll::Ready(Ok(response)) => response,
                Poll::Ready(Err(never)) => match never {},
                Poll::Pending => return Poll::Pending,
            },
        };
        let route = match this.route {
            Some(route) => route.as_str(),
            None if *this.api => "unmatched",
            None => "static",
        };
        observe(this.state, route, *this.peer, &response);
        Poll::Ready(Ok(response))
    }
}

fn ip_label(peer: Option<SocketAddr>) -> String {
    peer.map_or_else(|| "unknown".to_owned(), |addr| addr.ip().to_string())
}

/// The refusal of a caller over its IP's budget, if it is.
fn limit_per_ip(state: &AppState, peer: Option<SocketAddr>) -> Option<Response> {
    let limiter = state.0.ip_limit.as_ref()?;
    let wait = limiter.check(peer.map(|addr| addr.ip())).err()?;
    state
        .events()
        .count(EventKind::RateLimited, format!("ip {}", ip_label(peer)));
    Some(
        ApiError::RateLimited {
            retry_after_secs: wait.as_secs().max(1),
            policy: limiter.policy(),
        }
        .into_response(),
    )
}

/// Counts the answer by route and status, and feeds auth failures to the
/// event log.
fn observe(state: &AppState, route: &str, peer: Option<SocketAddr>, response: &Response) {
    let code = response.extensions().get::<ErrorInfo>().map(|e| e.code);
    if code == Some(ErrorCode::Unauthorized) {
        state.events().count(
            EventKind::AuthFailure,
            format!("ip {} on {route}", ip_label(peer)),
        );
    }
    // Purchases count their own outcome (simulated ones too); operator
    // mistakes are not buyer rejections.
    let rejection = code.filter(|_| route != PURCHASE_ROUTE && !route.starts_with("/api/admin"));
    state
        .telemetry()
        .record_request(route, response.status().as_u16(), rejection);
}
