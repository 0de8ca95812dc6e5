//! Buyer tokens' claims and the rules they must meet.
//!
//! Signatures are checked by the `jsonwebtoken` crate (see
//! [`super::tokens`]); what a token must say is checked here, with the
//! clock passed in so tests can move it: `exp` is required and honoured,
//! `nbf` is honoured when present, and [`Rules`] add what an operator may
//! require: an issuer, an audience, and a longest lifetime, so a leaked
//! long-lived token is refused.

use flashsale_domain::UserId;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};

/// Longer tokens are refused unread.
pub const MAX_TOKEN_LEN: usize = 8192;

/// The shortest secret the engine accepts: HS256 is only as strong as its
/// key, and RFC 7518 asks for at least the hash's 256 bits.
pub const MIN_SECRET_LEN: usize = 32;

/// The longest a token may live by default: a day.
pub const DEFAULT_MAX_LIFETIME_SECS: i64 = 86_400;

/// What a valid token must carry beyond its signature and `exp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// `iss` must be exactly this, when set.
    pub issuer: Option<String>,
    /// `aud` must be, or list, this, when set.
    pub audience: Option<String>,
    /// `exp` may be at most this many seconds after now (and after `iat`
    /// when the token has one).
    pub max_lifetime_secs: i64,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            issuer: None,
            audience: None,
            max_lifetime_secs: DEFAULT_MAX_LIFETIME_SECS,
        }
    }
}

/// Why a token was refused. The variants are for logs and tests; clients
/// only ever see "invalid or expired token".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("token is not three base64url parts of JSON")]
    Malformed,
    #[error("token algorithm is not one the engine accepts")]
    Algorithm,
    #[error("token names a signing key the identity provider does not publish")]
    UnknownKey,
    #[error("the identity provider's keys could not be fetched")]
    KeysUnavailable,
    #[error("token signature does not match")]
    Signature,
    #[error("token has expired")]
    Expired,
    #[error("token is not valid yet")]
    NotYetValid,
    #[error("token subject is not a valid user id")]
    Subject,
    #[error("token issuer is not the one required")]
    Issuer,
    #[error("token audience does not include the one required")]
    Audience,
    #[error("token lives longer than the longest lifetime allowed")]
    Lifetime,
}

/// `aud`: one audience, or a list of them (RFC 7519).
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn includes(&self, wanted: &str) -> bool {
        match self {
            Audience::One(a) => a == wanted,
            Audience::Many(all) => all.iter().any(|a| a == wanted),
        }
    }
}

/// The claims the engine reads; others are ignored.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Claims {
    sub: String,
    exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nbf: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    aud: Option<Audience>,
}

/// What stays true of a verified token until it expires: who, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verified {
    pub user: UserId,
    pub not_before: Option<i64>,
    pub expires_at: i64,
}

impl Verified {
    /// Whether the token may be used at `now`.
    pub fn in_force(&self, now: i64) -> Result<(), JwtError> {
        if now >= self.expires_at {
            return Err(JwtError::Expired);
        }
        if self.not_before.is_some_and(|nbf| now < nbf) {
            return Err(JwtError::NotYetValid);
        }
        Ok(())
    }
}

impl Claims {
    /// The buyer, when the claims meet `rules` at `now`.
    pub(crate) fn check(self, now: i64, rules: &Rules) -> Result<Verified, JwtError> {
        let verified = Verified {
            user: UserId::parse(&self.sub).map_err(|_| JwtError::Subject)?,
            not_before: self.nbf,
            expires_at: self.exp,
        };
        verified.in_force(now)?;
        let born = self.iat.map_or(now, |iat| iat.min(now));
        if self.exp.saturating_sub(born) > rules.max_lifetime_secs {
            return Err(JwtError::Lifetime);
        }
        if rules
            .issuer
            .as_ref()
            .is_some_and(|wanted| self.iss.as_ref() != Some(wanted))
        {
            return Err(JwtError::Issuer);
        }
        if let Some(wanted) = &rules.audience {
            if !self.aud.as_ref().is_some_and(|aud| aud.includes(wanted)) {
                return Err(JwtError::Audience);
            }
        }
        Ok(verified)
    }
}

/// Mints an HS256 token for `user`, valid until `expires_at` (Unix seconds).
pub fn sign(secret: &[u8], user: &UserId, issued_at: i64, expires_at: i64) -> String {
    sign_for(secret, user, issued_at, expires_at, &Rules::default())
}

/// The same, carrying the issuer and audience `rules` require.
pub fn sign_for(secret: &[u8], user: &UserId, issued_at: i64, expires_at: i64, rules: &Rules) -> String {
    let claims = Claims {
        sub: user.to_string(),
        exp: expires_at,
        nbf: None,
        iat: Some(issued_at),
        iss: rules.issuer.clone(),
        aud: rules.audience.clone().map(Audience::One),
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret),
    )
    .expect("HS256 signs with a key of any length")
}
