//! Buyer tokens: JWT signed with HMAC-SHA256, nothing else.
//!
//! Written out rather than taken from a general JWT library because the
//! engine accepts exactly one algorithm: the header must say `HS256`
//! (`alg: none` and every other algorithm are refused before the signature
//! is looked at), the signature is compared in constant time, `exp` is
//! required and honoured, `nbf` is honoured when present.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use flashsale_domain::UserId;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Longer tokens are refused unread.
const MAX_TOKEN_LEN: usize = 4096;

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
}

fn mac(secret: &[u8]) -> HmacSha256 {
    HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length")
}

/// Mints a token for `user`, valid until `expires_at` (Unix seconds).
pub fn sign(secret: &[u8], user: &UserId, issued_at: i64, expires_at: i64) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = Claims {
        sub: user.to_string(),
        exp: expires_at,
        nbf: None,
        iat: Some(issued_at),
    };
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).expect("claims serialise"));
    let signing_input = format!("{header}.{payload}");
    let mut mac = mac(secret);
    mac.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

/// The buyer named by a valid token at `now` (Unix seconds).
pub fn verify(secret: &[u8], token: &str, now: i64) -> Result<UserId, JwtError> {
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

    proptest! {
        #[test]
        fn garbage_never_verifies(token in ".{0,300}") {
            prop_assert!(verify(SECRET, &token, 1).is_err());
        }
    }
}
