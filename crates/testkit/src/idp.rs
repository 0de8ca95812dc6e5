//! A stand-in for a shop's identity provider: RS256 and ES256 keys (test
//! fixtures, never for a deployment), their JWKs, and tokens signed with
//! them, including the forgeries a gateway must refuse.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};

/// One of the fixture keys in `fixtures/jwt/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestKey {
    /// RSA-2048, published as `kid` `rsa-a`, RS256.
    RsaA,
    /// RSA-2048, `rsa-b`: the key a rotation brings in.
    RsaB,
    /// P-256, `ec-c`, ES256.
    EcC,
}

impl TestKey {
    pub fn kid(self) -> &'static str {
        match self {
            TestKey::RsaA => "rsa-a",
            TestKey::RsaB => "rsa-b",
            TestKey::EcC => "ec-c",
        }
    }

    pub fn algorithm(self) -> Algorithm {
        match self {
            TestKey::RsaA | TestKey::RsaB => Algorithm::RS256,
            TestKey::EcC => Algorithm::ES256,
        }
    }

    /// The public half, as the provider's JWKS lists it.
    pub fn jwk(self) -> serde_json::Value {
        let text = match self {
            TestKey::RsaA => include_str!("../fixtures/jwt/rsa-a.jwk.json"),
            TestKey::RsaB => include_str!("../fixtures/jwt/rsa-b.jwk.json"),
            TestKey::EcC => include_str!("../fixtures/jwt/ec-c.jwk.json"),
        };
        serde_json::from_str(text).expect("fixture JWK is JSON")
    }

    fn private(self) -> EncodingKey {
        match self {
            TestKey::RsaA => EncodingKey::from_rsa_der(include_bytes!("../fixtures/jwt/rsa-a.der")),
            TestKey::RsaB => EncodingKey::from_rsa_der(include_bytes!("../fixtures/jwt/rsa-b.der")),
            TestKey::EcC => EncodingKey::from_ec_der(include_bytes!("../fixtures/jwt/ec-c.der")),
        }
    }

    /// A token with `claims`, signed with this key and naming it.
    pub fn sign(self, claims: &serde_json::Value) -> String {
        let mut header = Header::new(self.algorithm());
        header.kid = Some(self.kid().to_owned());
        jsonwebtoken::encode(&header, claims, &self.private()).expect("fixture keys sign")
    }
}

/// `{"keys": [...]}` of `keys`.
pub fn jwks(keys: &[TestKey]) -> serde_json::Value {
    serde_json::json!({ "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>() })
}

/// Claims for `user`, valid for an hour, from `issuer` for `audience`.
pub fn claims(user: &str, issuer: &str, audience: &str) -> serde_json::Value {
    let now = chrono::Utc::now().timestamp();
    serde_json::json!({"sub": user, "iat": now, "exp": now + 3600, "iss": issuer, "aud": audience})
}

/// Tokens a gateway trusting `keys` for RS256/ES256 must refuse, each
/// with what is wrong with it.
pub fn forged(user: &str, issuer: &str, audience: &str) -> Vec<(&'static str, String)> {
    let good = TestKey::RsaA.sign(&claims(user, issuer, audience));
    let parts: Vec<&str> = good.split('.').collect();
    let header = |json: &str| URL_SAFE_NO_PAD.encode(json);
    let now = chrono::Utc::now().timestamp();
    // HS256 "signed" with the RSA public key's JWK text as the HMAC secret:
    // the key-confusion attack against verifiers that let the header pick.
    let public_as_secret = TestKey::RsaA.jwk().to_string();
    let confused = crate::tokens::sign_raw(
        public_as_secret.as_bytes(),
        r#"{"alg":"HS256","typ":"JWT","kid":"rsa-a"}"#,
        &claims(user, issuer, audience).to_string(),
    );
    let mut other_payload = claims("someone-else", issuer, audience);
    other_payload["iat"] = now.into();
    vec![
        ("HS256 with the RSA public key as secret", confused),
        (
            "alg none",
            format!("{}.{}.", header(r#"{"alg":"none","kid":"rsa-a"}"#), parts[1]),
        ),
        (
            "payload swapped under a valid signature",
            format!(
                "{}.{}.{}",
                parts[0],
                URL_SAFE_NO_PAD.encode(other_payload.to_string()),
                parts[2]
            ),
        ),
        (
            "RS256 signature relabelled ES256",
            format!(
                "{}.{}.{}",
                header(r#"{"alg":"ES256","kid":"ec-c"}"#),
                parts[1],
                parts[2]
            ),
        ),
        (
            "signed by a key the provider does not publish",
            TestKey::RsaB.sign(&claims(user, issuer, audience)),
        ),
        (
            "another issuer",
            TestKey::RsaA.sign(&claims(user, "https://elsewhere.example", audience)),
        ),
        (
            "another audience",
            TestKey::EcC.sign(&claims(user, issuer, "another-api")),
        ),
        (
            "expired",
            TestKey::EcC.sign(&serde_json::json!({
                "sub": user, "iat": now - 7200, "exp": now - 3600, "iss": issuer, "aud": audience
            })),
        ),
    ]
}

/// The provider's JWKS endpoint on a local port: serves the keys it is
/// given at `/.well-known/jwks.json`, counting fetches.
pub struct JwksServer {
    /// The JWKS URL, for `FLASHSALE_JWT_JWKS_URL`.
    pub url: String,
    keys: Arc<Mutex<serde_json::Value>>,
    fetches: Arc<AtomicUsize>,
}

impl JwksServer {
    /// Serves `keys` until the runtime stops.
    pub async fn start(keys: &[TestKey]) -> std::io::Result<Self> {
        let published = Arc::new(Mutex::new(jwks(keys)));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (serve_keys, count) = (Arc::clone(&published), Arc::clone(&fetches));
        let app = axum::Router::new().route(
            "/.well-known/jwks.json",
            axum::routing::get(move || {
                count.fetch_add(1, Ordering::SeqCst);
                let body = serve_keys.lock().expect("jwks lock").clone();
                async move { axum::Json(body) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/.well-known/jwks.json", listener.local_addr()?);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Self {
            url,
            keys: published,
            fetches,
        })
    }

    /// Publishes `keys` instead: a rotation.
    pub fn publish(&self, keys: &[TestKey]) {
        *self.keys.lock().expect("jwks lock") = jwks(keys);
    }

    /// How many times the set was fetched.
    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}
