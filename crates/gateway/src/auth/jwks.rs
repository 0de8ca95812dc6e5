//! The identity provider's signing keys, fetched from its JWKS URL.
//!
//! Fetched at start, again when a token names a key the set does not hold
//! (a rotation) but at most once per `Jwks::min_refresh` so a flood of
//! made-up `kid`s cannot turn the gateway against the provider, and in the
//! background once the set is older than [`MAX_AGE`] so a withdrawn key
//! stops being accepted. A failed fetch keeps the keys already held.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper::{Request, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use jsonwebtoken::jwk::{JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};

use super::jwt::JwtError;

/// A key set older than this is fetched again in the background.
pub const MAX_AGE: Duration = Duration::from_secs(300);

/// The shortest wait between two fetches by default.
pub const DEFAULT_MIN_REFRESH: Duration = Duration::from_secs(60);

/// Until a first set has been fetched, retry this often.
const RETRY_UNTIL_LOADED: Duration = Duration::from_secs(5);

const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_BODY: usize = 1 << 20;

/// Why the key set could not be used or fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksError {
    #[error("FLASHSALE_JWT_JWKS_URL {0:?} must be an https:// URL (http:// only to this host's loopback)")]
    Url(String),
    #[error("fetching {url}: {reason}")]
    Fetch { url: String, reason: String },
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url} is not a JWKS: {reason}")]
    Body { url: String, reason: String },
    #[error("{0} holds no signing key the engine can use")]
    NoKeys(String),
}

struct Key {
    kid: Option<String>,
    algorithm: Option<Algorithm>,
    key: Arc<DecodingKey>,
}

impl Key {
    fn fits(&self, algorithm: Algorithm) -> bool {
        self.key.family() == algorithm.family() && self.algorithm.is_none_or(|a| a == algorithm)
    }
}

#[derive(Default)]
struct Held {
    keys: Vec<Key>,
    fetched_at: Option<Instant>,
}

/// The provider's published keys, and when to fetch them again.
pub struct Jwks {
    url: String,
    uri: Uri,
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
    held: RwLock<Held>,
    /// When the last fetch began; one fetch at a time.
    last_attempt: tokio::sync::Mutex<Option<Instant>>,
    /// No background fetch is started before this.
    next_background: Mutex<Option<Instant>>,
    generation: AtomicU64,
    min_refresh: Duration,
}

fn loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl Jwks {
    /// Keys from `url`, fetched no more than once per `min_refresh` on
    /// unknown `kid`s. Nothing is fetched until [`Self::refresh`] or a token.
    pub fn new(url: &str, min_refresh: Duration) -> Result<Self, JwksError> {
        let uri: Uri = url.parse().map_err(|_| JwksError::Url(url.to_owned()))?;
        let secure = match (uri.scheme_str(), uri.host()) {
            (Some("https"), Some(_)) => true,
            (Some("http"), Some(host)) => loopback(host),
            _ => false,
        };
        if !secure {
            return Err(JwksError::Url(url.to_owned()));
        }
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(Duration::from_secs(2)));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(Self {
            url: url.to_owned(),
            uri,
            client: Client::builder(TokioExecutor::new()).build(connector),
            held: RwLock::new(Held::default()),
            last_attempt: tokio::sync::Mutex::new(None),
            next_background: Mutex::new(None),
            generation: AtomicU64::new(0),
            min_refresh,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Bumped each time a fetch withdraws a key, so tokens it signed are
    /// verified afresh.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// How many keys are held.
    pub fn len(&self) -> usize {
        self.held.read().expect("jwks lock").keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The key to check a token of `algorithm` naming `kid`. An unknown
    /// key may trigger one fetch, subject to the shortest wait.
    pub(crate) async fn key_for(
        self: &Arc<Self>,
        kid: Option<&str>,
        algorithm: Algorithm,
    ) -> Result<Arc<DecodingKey>, JwtError> {
        if let Some(key) = self.find(kid, algorithm) {
            return Ok(key);
        }
        let _ = self.refresh_if_due().await;
        self.find(kid, algorithm).ok_or(if self.is_empty() {
            JwtError::KeysUnavailable
        } else {
            JwtError::UnknownKey
        })
    }

    fn find(self: &Arc<Self>, kid: Option<&str>, algorithm: Algorithm) -> Option<Arc<DecodingKey>> {
        let held = self.held.read().expect("jwks lock");
        if held.fetched_at.is_some_and(|at| at.elapsed() > MAX_AGE) {
            self.refresh_in_background();
        }
        let mut fitting = held.keys.iter().filter(|k| k.fits(algorithm));
        let key = match kid {
            Some(kid) => fitting.find(|k| k.kid.as_deref() == Some(kid)),
            // No `kid`: only when the set leaves no doubt.
            None => fitting.next().filter(|_| fitting.next().is_none()),
        };
        key.map(|k| Arc::clone(&k.key))
    }

    fn refresh_in_background(self: &Arc<Self>) {
        let now = Instant::now();
        let mut next = self.next_background.lock().expect("jwks lock");
        if next.is_some_and(|at| now < at) {
            return;
        }
        *next = Some(now + self.min_refresh);
        let jwks = Arc::clone(self);
        tokio::spawn(async move {
            if let Err(e) = jwks.refresh_if_due().await {
                tracing::warn!(error = %e, "buyer-token keys not refreshed; keeping the ones held");
            }
        });
    }

    /// Fetches the set unless the last fetch began less than the shortest
    /// wait ago; `Ok(false)` when it was not due.
    pub async fn refresh_if_due(&self) -> Result<bool, JwksError> {
        let mut last = self.last_attempt.lock().await;
        let wait = if self.is_empty() {
            RETRY_UNTIL_LOADED.min(self.min_refresh)
        } else {
            self.min_refresh
        };
        if last.is_some_and(|at| at.elapsed() < wait) {
            return Ok(false);
        }
        *last = Some(Instant::now());
        self.refresh_now().await.map(|_| true)
    }

    /// Fetches the set now; the number of usable keys.
    pub async fn refresh(&self) -> Result<usize, JwksError> {
        let mut last = self.last_attempt.lock().await;
        *last = Some(Instant::now());
        self.refresh_now().await
    }

    async fn refresh_now(&self) -> Result<usize, JwksError> {
        let set = self.fetch().await?;
        let keys: Vec<Key> = set
            .keys
            .iter()
            .filter(|jwk| !matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)))
            .filter_map(|jwk| {
                let key = DecodingKey::from_jwk(jwk).ok()?;
                let algorithm = match jwk.common.key_algorithm {
                    Some(named) => Some(named.to_string().parse::<Algorithm>().ok()?),
                    None => None,
                };
                Some(Key {
                    kid: jwk.common.key_id.clone(),
                    algorithm,
                    key: Arc::new(key),
                })
            })
            .collect();
        if keys.is_empty() {
            return Err(JwksError::NoKeys(self.url.clone()));
        }
        let count = keys.len();
        let mut held = self.held.write().expect("jwks lock");
        let withdrawn = held
            .keys
            .iter()
            .any(|old| !keys.iter().any(|new| new.kid == old.kid));
        if withdrawn {
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
        *held = Held {
            keys,
            fetched_at: Some(Instant::now()),
        };
        Ok(count)
    }

    async fn fetch(&self) -> Result<JwkSet, JwksError> {
        let fail = |reason: String| JwksError::Fetch {
            url: self.url.clone(),
            reason,
        };
        let request = Request::get(self.uri.clone())
            .header(hyper::header::ACCEPT, "application/json")
            .body(Empty::new())
            .map_err(|e| fail(e.to_string()))?;
        let fetch = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| fail(e.to_string()))?;
            let status = response.status();
            if !status.is_success() {
                return Err(JwksError::Status {
                    url: self.url.clone(),
                    status: status.as_u16(),
                });
            }
            Limited::new(response.into_body(), MAX_BODY)
                .collect()
                .await
                .map(|body| body.to_bytes())
                .map_err(|e| fail(e.to_string()))
        };
        let body = tokio::time::timeout(FETCH_TIMEOUT, fetch)
            .await
            .map_err(|_| fail(format!("no answer within {FETCH_TIMEOUT:?}")))??;
        serde_json::from_slice(&body).map_err(|e| JwksError::Body {
            url: self.url.clone(),
            reason: e.to_string(),
        })
    }
}
