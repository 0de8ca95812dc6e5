//! Verifying buyer tokens: which algorithms, which keys, and the tokens
//! already verified.
//!
//! HS256 tokens are checked with the engine's secret; RS256, ES256 and the
//! other public-key algorithms with the keys of the shop's identity
//! provider, fetched from its JWKS ([`super::jwks`]). The key is chosen by
//! the algorithm's family before anything is verified, so an HMAC token is
//! never checked against a public key (the "HS256 signed with the RSA
//! public key" confusion) and `alg: none` is never in the allow-list.

use std::sync::Arc;

use flashsale_domain::UserId;
pub use jsonwebtoken::Algorithm;
use jsonwebtoken::{DecodingKey, Validation};

use super::hs256::Hs256;
use super::jwks::Jwks;
#[cfg(test)]
use super::jwks::DEFAULT_MIN_REFRESH;
use super::jwt::{Claims, JwtError, Rules, MAX_TOKEN_LEN};
use super::verified::VerifiedTokens;

/// The algorithms an operator may allow; HMAC only as HS256, the engine's
/// own secret being 256 bits or more.
const NAMED: [(&str, Algorithm); 10] = [
    ("HS256", Algorithm::HS256),
    ("RS256", Algorithm::RS256),
    ("RS384", Algorithm::RS384),
    ("RS512", Algorithm::RS512),
    ("PS256", Algorithm::PS256),
    ("PS384", Algorithm::PS384),
    ("PS512", Algorithm::PS512),
    ("ES256", Algorithm::ES256),
    ("ES384", Algorithm::ES384),
    ("EdDSA", Algorithm::EdDSA),
];

/// Why the buyer-token settings cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenSettingsError {
    #[error("FLASHSALE_JWT_ALGORITHMS: {0:?} is not one of HS256, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA")]
    UnknownAlgorithm(String),
    #[error("FLASHSALE_JWT_ALGORITHMS is empty: no buyer could sign in")]
    NoAlgorithm,
    #[error("FLASHSALE_JWT_ALGORITHMS allows {0}, which needs the identity provider's keys: set FLASHSALE_JWT_JWKS_URL")]
    NeedsJwks(String),
}

/// Parses a comma-separated allow-list such as `RS256,ES256`.
pub fn parse_algorithms(list: &str) -> Result<Vec<Algorithm>, TokenSettingsError> {
    let mut algorithms = Vec::new();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let (_, algorithm) = NAMED
            .iter()
            .find(|(known, _)| *known == name)
            .ok_or_else(|| TokenSettingsError::UnknownAlgorithm(name.to_owned()))?;
        if !algorithms.contains(algorithm) {
            algorithms.push(*algorithm);
        }
    }
    if algorithms.is_empty() {
        return Err(TokenSettingsError::NoAlgorithm);
    }
    Ok(algorithms)
}

fn name_of(algorithm: Algorithm) -> &'static str {
    NAMED
        .iter()
        .find(|(_, a)| *a == algorithm)
        .map_or("?", |(name, _)| name)
}

/// Checks buyer tokens: the gateway's one door for buyers.
pub struct BuyerTokens {
    algorithms: Vec<Algorithm>,
    secret: Hs256,
    jwks: Option<Arc<Jwks>>,
    rules: Rules,
    verified: VerifiedTokens,
}

impl std::fmt::Debug for BuyerTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl BuyerTokens {
    /// `secret` verifies HS256; `jwks` every public-key algorithm allowed.
    pub fn new(
        secret: &[u8],
        algorithms: Vec<Algorithm>,
        jwks: Option<Arc<Jwks>>,
        rules: Rules,
    ) -> Result<Self, TokenSettingsError> {
        if algorithms.is_empty() {
            return Err(TokenSettingsError::NoAlgorithm);
        }
        if jwks.is_none() {
            if let Some(public) = algorithms.iter().find(|a| **a != Algorithm::HS256) {
                return Err(TokenSettingsError::NeedsJwks(name_of(*public).to_owned()));
            }
        }
        Ok(Self {
            algorithms,
            secret: Hs256::new(secret),
            jwks,
            rules,
            verified: VerifiedTokens::default(),
        })
    }

    /// HS256 tokens signed with `secret`, under `rules`: the engine alone.
    pub fn hs256(secret: &[u8], rules: Rules) -> Self {
        Self::new(secret, vec![Algorithm::HS256], None, rules).expect("HS256 needs no JWKS")
    }

    /// The identity provider's key set, when one is configured.
    pub fn jwks(&self) -> Option<&Arc<Jwks>> {
        self.jwks.as_ref()
    }

    /// One line for the start banner; no secret in it.
    pub fn describe(&self) -> String {
        let names: Vec<&str> = self.algorithms.iter().map(|a| name_of(*a)).collect();
        let mut line = format!("buyer tokens: {}", names.join(", "));
        if let Some(jwks) = &self.jwks {
            line.push_str(&format!(", keys from {}", jwks.url()));
        }
        if let Some(iss) = &self.rules.issuer {
            line.push_str(&format!(", iss {iss}"));
        }
        if let Some(aud) = &self.rules.audience {
            line.push_str(&format!(", aud {aud}"));
        }
        line
    }

    /// The buyer named by a token valid at `now` (Unix seconds).
    ///
    /// A public-key token verified before is answered from memory until it
    /// expires (see `verified`).
    pub async fn verify(&self, token: &str, now: i64) -> Result<UserId, JwtError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(JwtError::Malformed);
        }
        let Some(jwks) = &self.jwks else {
            // The engine's secret only: the header needs no reading first.
            return self.verify_hs256(token, now);
        };
        let generation = jwks.generation();
        if let Some(known) = self.verified.get(token, generation) {
            known.in_force(now)?;
            return Ok(known.user);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Malformed)?;
        if !self.algorithms.contains(&header.alg) {
            return Err(JwtError::Algorithm);
        }
        if header.alg == Algorithm::HS256 {
            return self.verify_hs256(token, now);
        }
        let key = jwks.key_for(header.kid.as_deref(), header.alg).await?;
        let verified = decode(token, &key, header.alg)?.check(now, &self.rules)?;
        let user = verified.user.clone();
        self.verified.insert(token, verified, generation);
        Ok(user)
    }

    /// An HS256 token, checked with the engine's secret (never remembered:
    /// the check costs less than remembering it would).
    fn verify_hs256(&self, token: &str, now: i64) -> Result<UserId, JwtError> {
        let claims = self.secret.decode(token)?;
        claims.check(now, &self.rules).map(|verified| verified.user)
    }
}

/// The signature checked by `jsonwebtoken`, for `algorithm` only; the
/// claims are checked by [`Claims::check`] against the caller's clock.
pub(super) fn decode(token: &str, key: &DecodingKey, algorithm: Algorithm) -> Result<Claims, JwtError> {
    let mut validation = Validation::new(algorithm);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    jsonwebtoken::decode::<Claims>(token, key, &validation)
        .map(|data| data.claims)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => JwtError::Signature,
            jsonwebtoken::errors::ErrorKind::InvalidAlgorithm
            | jsonwebtoken::errors::ErrorKind::InvalidAlgorithmName => JwtError::Algorithm,
            _ => JwtError::Malformed,
        })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use flashsale_testkit::idp::{self, JwksServer, TestKey};
    use proptest::prelude::*;

    use super::super::jwt::{sign, sign_for, DEFAULT_MAX_LIFETIME_SECS};
    use super::*;

    const SECRET: &[u8] = b"test-secret-of-enough-length-000";
    const ISSUER: &str = "https://idp.test";
    const AUDIENCE: &str = "flashsale";

    fn user() -> UserId {
        UserId::parse("buyer-42").unwrap()
    }

    fn hs256() -> BuyerTokens {
        BuyerTokens::hs256(SECRET, Rules::default())
    }

    #[tokio::test]
    async fn a_signed_token_verifies_until_it_expires() {
        let tokens = hs256();
        let token = sign(SECRET, &user(), 1_000, 2_000);
        assert_eq!(tokens.verify(&token, 1_999).await, Ok(user()));
        assert_eq!(tokens.verify(&token, 2_000).await, Err(JwtError::Expired));
    }

    #[tokio::test]
    async fn forged_and_alg_none_tokens_are_refused() {
        let tokens = hs256();
        let token = sign(SECRET, &user(), 0, i64::MAX);
        let other = BuyerTokens::hs256(b"another-secret-of-enough-length-0", Rules::default());
        assert_eq!(other.verify(&token, 1).await, Err(JwtError::Signature));
        let parts: Vec<&str> = token.split('.').collect();
        let b64 = |s: &str| {
            use base64::Engine;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
        };
        let none = b64(r#"{"alg":"none","typ":"JWT"}"#);
        assert!(tokens.verify(&format!("{none}.{}.", parts[1]), 1).await.is_err());
        let hs512 = b64(r#"{"alg":"HS512"}"#);
        assert_eq!(
            tokens
                .verify(&format!("{hs512}.{}.{}", parts[1], parts[2]), 1)
                .await,
            Err(JwtError::Algorithm)
        );
        // A payload swapped under a valid signature.
        let swapped = b64(r#"{"sub":"admin","exp":9999999999}"#);
        assert_eq!(
            tokens
                .verify(&format!("{}.{swapped}.{}", parts[0], parts[2]), 1)
                .await,
            Err(JwtError::Signature)
        );
        assert_eq!(tokens.verify("a.b", 1).await, Err(JwtError::Malformed));
        assert_eq!(
            tokens.verify(&"x".repeat(9000), 1).await,
            Err(JwtError::Malformed)
        );
    }

    #[tokio::test]
    async fn issuer_audience_and_lifetime_are_enforced_when_required() {
        let rules = Rules {
            issuer: Some("shop".into()),
            audience: Some("flashsale".into()),
            max_lifetime_secs: 3_600,
        };
        let tokens = BuyerTokens::hs256(SECRET, rules.clone());
        let good = sign_for(SECRET, &user(), 1_000, 4_000, &rules);
        assert_eq!(tokens.verify(&good, 1_500).await, Ok(user()));
        let plain = sign(SECRET, &user(), 1_000, 4_000);
        assert_eq!(tokens.verify(&plain, 1_500).await, Err(JwtError::Issuer));
        let other = Rules {
            issuer: Some("elsewhere".into()),
            ..rules.clone()
        };
        let foreign = sign_for(SECRET, &user(), 1_000, 4_000, &other);
        assert_eq!(tokens.verify(&foreign, 1_500).await, Err(JwtError::Issuer));
        let no_aud = Rules {
            audience: None,
            ..rules.clone()
        };
        let missing = sign_for(SECRET, &user(), 1_000, 4_000, &no_aud);
        assert_eq!(tokens.verify(&missing, 1_500).await, Err(JwtError::Audience));
        // A token for a year, or one that says it was issued long ago.
        let long = sign_for(SECRET, &user(), 1_000, 1_000 + 365 * 86_400, &rules);
        assert_eq!(tokens.verify(&long, 1_500).await, Err(JwtError::Lifetime));
        let old_iat = sign_for(SECRET, &user(), 0, 5_000, &rules);
        assert_eq!(tokens.verify(&old_iat, 4_000).await, Err(JwtError::Lifetime));
        // The default allows a day.
        let day = sign(SECRET, &user(), 0, DEFAULT_MAX_LIFETIME_SECS);
        assert_eq!(hs256().verify(&day, 1).await, Ok(user()));
        let longer = sign(SECRET, &user(), 0, DEFAULT_MAX_LIFETIME_SECS + 1);
        assert_eq!(hs256().verify(&longer, 1).await, Err(JwtError::Lifetime));
    }

    #[test]
    fn the_allow_list_names_known_algorithms_and_public_keys_need_a_jwks() {
        assert_eq!(
            parse_algorithms(" RS256, ES256,RS256 "),
            Ok(vec![Algorithm::RS256, Algorithm::ES256])
        );
        assert_eq!(
            parse_algorithms("RS256,none"),
            Err(TokenSettingsError::UnknownAlgorithm("none".into()))
        );
        assert_eq!(
            parse_algorithms("HS512"),
            Err(TokenSettingsError::UnknownAlgorithm("HS512".into()))
        );
        assert_eq!(parse_algorithms(" , "), Err(TokenSettingsError::NoAlgorithm));
        let err = BuyerTokens::new(SECRET, vec![Algorithm::ES256], None, Rules::default()).unwrap_err();
        assert_eq!(err, TokenSettingsError::NeedsJwks("ES256".into()));
        assert!(matches!(
            Jwks::new("http://idp.example/jwks", Duration::from_secs(60)),
            Err(super::super::jwks::JwksError::Url(_))
        ));
        assert!(Jwks::new(
            "https://idp.example/.well-known/jwks.json",
            Duration::from_secs(60)
        )
        .is_ok());
        assert!(Jwks::new("http://127.0.0.1:9/jwks", Duration::from_secs(60)).is_ok());
    }

    proptest! {
        #[test]
        fn garbage_never_verifies(token in ".{0,300}") {
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            prop_assert!(runtime.block_on(hs256().verify(&token, 1)).is_err());
        }
    }

    async fn trusting(provider: &JwksServer, min_refresh: Duration) -> BuyerTokens {
        let jwks = Arc::new(Jwks::new(&provider.url, min_refresh).unwrap());
        jwks.refresh().await.unwrap();
        let rules = Rules {
            issuer: Some(ISSUER.into()),
            audience: Some(AUDIENCE.into()),
            ..Rules::default()
        };
        let algorithms = vec![Algorithm::RS256, Algorithm::ES256];
        BuyerTokens::new(SECRET, algorithms, Some(jwks), rules).unwrap()
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    #[tokio::test]
    async fn provider_tokens_verify_and_every_forgery_is_refused() {
        let provider = JwksServer::start(&[TestKey::RsaA, TestKey::EcC]).await.unwrap();
        let tokens = trusting(&provider, DEFAULT_MIN_REFRESH).await;
        for key in [TestKey::RsaA, TestKey::EcC] {
            let token = key.sign(&idp::claims("buyer-42", ISSUER, AUDIENCE));
            assert_eq!(tokens.verify(&token, now()).await, Ok(user()), "{key:?}");
            // Again, from the verified tokens: it expires all the same.
            assert_eq!(tokens.verify(&token, now()).await, Ok(user()), "{key:?}");
            assert_eq!(tokens.verify(&token, now() + 3600).await, Err(JwtError::Expired));
        }
        // The engine's own HS256 tokens are not on this allow-list.
        let own = sign(SECRET, &user(), now(), now() + 60);
        assert_eq!(tokens.verify(&own, now()).await, Err(JwtError::Algorithm));
        for (what, token) in idp::forged("buyer-42", ISSUER, AUDIENCE) {
            assert!(tokens.verify(&token, now()).await.is_err(), "{what} was accepted");
        }
        // A flood of unknown `kid`s costs the provider no fetch within the
        // shortest wait (the one fetch is the start's).
        for _ in 0..100 {
            let stranger = TestKey::RsaB.sign(&idp::claims("buyer-42", ISSUER, AUDIENCE));
            assert_eq!(tokens.verify(&stranger, now()).await, Err(JwtError::UnknownKey));
        }
        assert_eq!(provider.fetches(), 1);
        // With HS256 allowed too, the key is still chosen by the algorithm,
        // never by what the header names: the public key is no HMAC secret.
        let jwks = Arc::clone(tokens.jwks().unwrap());
        let all = vec![Algorithm::HS256, Algorithm::RS256, Algorithm::ES256];
        let mixed = BuyerTokens::new(SECRET, all, Some(jwks), Rules::default()).unwrap();
        let (what, confused) = &idp::forged("buyer-42", ISSUER, AUDIENCE)[0];
        assert_eq!(
            mixed.verify(confused, now()).await,
            Err(JwtError::Signature),
            "{what}"
        );
        assert_eq!(mixed.verify(&own, now()).await, Ok(user()));
    }

    #[tokio::test]
    async fn a_rotation_brings_the_new_key_in_and_takes_the_withdrawn_one_out() {
        let provider = JwksServer::start(&[TestKey::RsaA]).await.unwrap();
        let wait = Duration::from_millis(200);
        let tokens = trusting(&provider, wait).await;
        let old = TestKey::RsaA.sign(&idp::claims("buyer-42", ISSUER, AUDIENCE));
        let new = TestKey::RsaB.sign(&idp::claims("buyer-42", ISSUER, AUDIENCE));
        assert_eq!(tokens.verify(&old, now()).await, Ok(user()));
        assert_eq!(tokens.verify(&new, now()).await, Err(JwtError::UnknownKey));

        provider.publish(&[TestKey::RsaB]);
        tokio::time::sleep(wait).await;
        assert_eq!(tokens.verify(&new, now()).await, Ok(user()));
        assert_eq!(provider.fetches(), 2);
        // `old` was verified and remembered; its key is gone, so it is not.
        assert_eq!(tokens.verify(&old, now()).await, Err(JwtError::UnknownKey));
    }

    #[tokio::test]
    async fn a_provider_that_does_not_answer_refuses_tokens_without_failing_the_gateway() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        drop(listener);
        let jwks = Arc::new(Jwks::new(&url, DEFAULT_MIN_REFRESH).unwrap());
        assert!(matches!(
            jwks.refresh().await,
            Err(super::super::jwks::JwksError::Fetch { .. })
        ));
        let tokens = BuyerTokens::new(SECRET, vec![Algorithm::RS256], Some(jwks), Rules::default()).unwrap();
        let token = TestKey::RsaA.sign(&idp::claims("buyer-42", ISSUER, AUDIENCE));
        assert_eq!(tokens.verify(&token, now()).await, Err(JwtError::KeysUnavailable));
    }
}
