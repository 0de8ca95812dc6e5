//! Buyer tokens: JWT signed with HMAC-SHA256, nothing else.
//!
//! Written out rather than taken from a general JWT library because the
//! engine accepts exactly one algorithm: the header must say `HS256`
//! (`alg: none` and every other algorithm are refused before the signature
//! is looked at), the signature is compared in constant time, `exp` is
//! required and honoured, `nbf` is honoured when present. [`Rules`] add
//! what an operator may require: an issuer, an audience, and a longest
//! lifetime, so a leaked long-lived token is refused.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use flashsale_domain::UserId;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Longer tokens are refused unread.
const MAX_TOKEN_LEN: usize = 4096;

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
    #[error("token is not three base64url parts")]
    Malformed,
    #[error("token algorithm is not HS256")]
    Algorithm,
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
#[derive(Serialize, Deserialize)]
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

#[derive(Deserialize)]
struct Header {
    alg: String,
}

#[derive(Serialize, Deserialize)]
struct Claims {
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

fn mac(secret: &[u8]) -> HmacSha256 {
    HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length")
}

/// Mints a token for `user`, valid until `expires_at` (Unix seconds).
pub fn sign(secret: &[u8], user: &UserId, issued_at: i64, expires_at: i64) -> String {
    sign_for(secret, user, issued_at, expires_at, &Rules::default())
}

/// The same, carrying the issuer and audience `rules` require.
pub fn sign_for(secret: &[u8], user: &UserId, issued_at: i64, expires_at: i64, rules: &Rules) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = Claims {
        sub: user.to_string(),
        exp: expires_at,
        nbf: None,
        iat: Some(issued_at),
        iss: rules.issuer.clone(),
        aud: rules.audience.clone().map(Audience::One),
    };
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).expect("claims serialise"));
    let signing_input = format!("{header}.{payload}");
    let mut mac = mac(secret);
    mac.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

/// The buyer named by a valid token at `now` (Unix seconds), under the
/// default [`Rules`].
pub fn verify(secret: &[u8], token: &str, now: i64) -> Result<UserId, JwtError> {
    verify_with(secret, token, now, &Rules::default())
}

/// The buyer named by a token valid at `now` under `rules`.
pub fn verify_with(secret: &[u8], token: &str, now: i64, rules: &Rules) -> Result<UserId, JwtError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(JwtError::Malformed);
    }
    let (signing_input, signature) = token.rsplit_once('.').ok_or(JwtError::Malformed)?;
    let (header, payload) = signing_input.split_once('.').ok_or(JwtError::Malformed)?;
    if payload.contains('.') {
        return Err(JwtError::Malformed);
    }
    let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).map_err(|_| JwtError::Malformed);
    let header: Header = serde_json::from_slice(&decode(header)?).map_err(|_| JwtError::Malformed)?;
    if header.alg != "HS256" {
        return Err(JwtError::Algorithm);
    }
    let mut mac = mac(secret);
    mac.update(signing_input.as_bytes());
    mac.verify_slice(&decode(signature)?)
        .map_err(|_| JwtError::Signature)?;
    let claims: Claims = serde_json::from_slice(&decode(payload)?).map_err(|_| JwtError::Malformed)?;
    if now >= claims.exp {
        return Err(JwtError::Expired);
    }
    if claims.nbf.is_some_and(|nbf| now < nbf) {
        return Err(JwtError::NotYetValid);
    }
    let born = claims.iat.map_or(now, |iat| iat.min(now));
    if claims.exp.saturating_sub(born) > rules.max_lifetime_secs {
        return Err(JwtError::Lifetime);
    }
    if rules
        .issuer
        .as_ref()
        .is_some_and(|wanted| claims.iss.as_ref() != Some(wanted))
    {
        return Err(JwtError::Issuer);
    }
    if let Some(wanted) = &rules.audience {
        if !claims.aud.as_ref().is_some_and(|aud| aud.includes(wanted)) {
            return Err(JwtError::Audience);
        }
    }
    UserId::parse(&claims.sub).map_err(|_| JwtError::Subject)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const SECRET: &[u8] = b"test-secret-of-enough-length-000";

    fn user() -> UserId {
        UserId::parse("buyer-42").unwrap()
    }

    #[test]
    fn a_signed_token_verifies_until_it_expires() {
        let token = sign(SECRET, &user(), 1_000, 2_000);
        assert_eq!(verify(SECRET, &token, 1_999), Ok(user()));
        assert_eq!(verify(SECRET, &token, 2_000), Err(JwtError::Expired));
    }

    #[test]
    fn forged_and_alg_none_tokens_are_refused() {
        let token = sign(SECRET, &user(), 0, i64::MAX);
        assert_eq!(verify(b"another-secret", &token, 1), Err(JwtError::Signature));
        let parts: Vec<&str> = token.split('.').collect();
        let none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        assert_eq!(
            verify(SECRET, &format!("{none}.{}.", parts[1]), 1),
            Err(JwtError::Algorithm)
        );
        let hs512 = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS512"}"#);
        assert_eq!(
            verify(SECRET, &format!("{hs512}.{}.{}", parts[1], parts[2]), 1),
            Err(JwtError::Algorithm)
        );
        // A payload swapped under a valid signature.
        let other = URL_SAFE_NO_PAD.encode(br#"{"sub":"admin","exp":9999999999}"#);
        assert_eq!(
            verify(SECRET, &format!("{}.{other}.{}", parts[0], parts[2]), 1),
            Err(JwtError::Signature)
        );
        assert_eq!(verify(SECRET, "a.b", 1), Err(JwtError::Malformed));
        assert_eq!(verify(SECRET, &"x".repeat(5000), 1), Err(JwtError::Malformed));
    }

    #[test]
    fn issuer_audience_and_lifetime_are_enforced_when_required() {
        let rules = Rules {
            issuer: Some("shop".into()),
            audience: Some("flashsale".into()),
            max_lifetime_secs: 3_600,
        };
        let good = sign_for(SECRET, &user(), 1_000, 4_000, &rules);
        assert_eq!(verify_with(SECRET, &good, 1_500, &rules), Ok(user()));
        let plain = sign(SECRET, &user(), 1_000, 4_000);
        assert_eq!(verify_with(SECRET, &plain, 1_500, &rules), Err(JwtError::Issuer));
        let other = Rules {
            issuer: Some("elsewhere".into()),
            ..rules.clone()
        };
        let foreign = sign_for(SECRET, &user(), 1_000, 4_000, &other);
        assert_eq!(
            verify_with(SECRET, &foreign, 1_500, &rules),
            Err(JwtError::Issuer)
        );
        let no_aud = Rules {
            audience: None,
            ..rules.clone()
        };
        let missing = sign_for(SECRET, &user(), 1_000, 4_000, &no_aud);
        assert_eq!(
            verify_with(SECRET, &missing, 1_500, &rules),
            Err(JwtError::Audience)
        );
        // A token for a year, or one that says it was issued long ago.
        let long = sign_for(SECRET, &user(), 1_000, 1_000 + 365 * 86_400, &rules);
        assert_eq!(verify_with(SECRET, &long, 1_500, &rules), Err(JwtError::Lifetime));
        let old_iat = sign_for(SECRET, &user(), 0, 5_000, &rules);
        assert_eq!(
            verify_with(SECRET, &old_iat, 4_000, &rules),
            Err(JwtError::Lifetime)
        );
        // The default allows a day.
        let day = sign(SECRET, &user(), 0, DEFAULT_MAX_LIFETIME_SECS);
        assert_eq!(verify(SECRET, &day, 1), Ok(user()));
        let longer = sign(SECRET, &user(), 0, DEFAULT_MAX_LIFETIME_SECS + 1);
        assert_eq!(verify(SECRET, &longer, 1), Err(JwtError::Lifetime));
    }

    proptest! {
        #[test]
        fn garbage_never_verifies(token in ".{0,300}") {
            prop_assert!(verify(SECRET, &token, 1).is_err());
        }
    }
}
