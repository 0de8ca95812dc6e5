//! Who is calling: buyers by JWT, operators by the admin token.

mod hs256;
pub mod jwks;
pub mod jwt;
pub mod tokens;
mod verified;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use flashsale_domain::UserId;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::state::AppState;

/// A verified buyer, from `Authorization: Bearer <JWT>`.
#[derive(Debug, Clone)]
pub struct Buyer(pub UserId);

/// A caller who presented the admin token.
#[derive(Debug, Clone, Copy)]
pub struct Admin;

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The services' internal credential when `FLASHSALE_SERVICE_TOKEN` is not
/// set: an HMAC of the admin token under the JWT secret. Every process that
/// shares those two secrets agrees on it with no extra setting, and neither
/// a dashboard (admin) token nor the JWT signing key alone opens the
/// internal API.
pub fn derived_service_token(admin_token: &str, jwt_secret: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac =
        Hmac::<Sha256>::new_from_slice(jwt_secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(b"flashsale internal service token v1\n");
    mac.update(admin_token.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Compares secrets in constant time: the digests have equal length, so
/// neither the length nor the content of the expected token leaks.
pub fn same_secret(presented: &str, expected: &str) -> bool {
    Sha256::digest(presented.as_bytes())
        .ct_eq(&Sha256::digest(expected.as_bytes()))
        .into()
}

impl FromRequestParts<AppState> for Buyer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or(ApiError::Unauthorized(
            "a buyer token (Authorization: Bearer <JWT>) is required",
        ))?;
        let now = chrono::Utc::now().timestamp();
        state
            .config()
            .buyer_tokens
            .verify(token, now)
            .await
            .map(Buyer)
            .map_err(|_| ApiError::Unauthorized("the buyer token is invalid or expired"))
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        // EventSource cannot set headers, so the SSE stream may carry the token in the query.
        let from_query = || {
            #[derive(serde::Deserialize)]
            struct TokenQuery {
                token: String,
            }
            let events = parts.uri.path() == crate::routes::EVENTS_ROUTE;
            let query = axum::extract::Query::<TokenQuery>::try_from_uri(&parts.uri)
                .ok()
                .filter(|_| events);
            query.map(|q| q.0.token)
        };
        let presented = bearer(parts)
            .map(str::to_owned)
            .or_else(from_query)
            .unwrap_or_default();
        if !presented.is_empty() && same_secret(&presented, &state.config().admin_token) {
            Ok(Admin)
        } else {
            Err(ApiError::Unauthorized("the admin token is missing or wrong"))
        }
    }
}
