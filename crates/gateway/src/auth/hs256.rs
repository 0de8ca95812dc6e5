//! The engine's own buyer tokens (HS256), checked without `jsonwebtoken`:
//! every purchase pays this check, and the crate decodes the claims twice
//! (once into a map for its own rules, which the engine turns off) and
//! rebuilds the HMAC key each time. Here the key is made once, the claims
//! are decoded once, and the same refusals come out for the same tokens
//! (the unit tests hold both to it).

use aws_lc_rs::hmac;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::Algorithm;
use serde::Deserialize;

use super::jwt::{Claims, JwtError};

/// The only header field read: the algorithm it claims (a name no JOSE
/// algorithm has, `none` included, is malformed, as for the crate).
#[derive(Deserialize)]
struct JoseHeader {
    alg: Algorithm,
}

/// The engine's secret, ready to check HS256 signatures.
pub(crate) struct Hs256 {
    key: hmac::Key,
}

impl Hs256 {
    pub(crate) fn new(secret: &[u8]) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    /// The claims of `token` when it is three base64url parts, its header
    /// says HS256 and its signature is this secret's (compared in constant
    /// time). Its claims are not checked here: see [`Claims::check`].
    pub(crate) fn decode(&self, token: &str) -> Result<Claims, JwtError> {
        let (signed, signature) = token.rsplit_once('.').ok_or(JwtError::Malformed)?;
        let (header, payload) = signed.rsplit_once('.').ok_or(JwtError::Malformed)?;
        let header: JoseHeader = with_part(header, |header| {
            serde_json::from_slice(header).map_err(|_| JwtError::Malformed)
        })?;
        if header.alg != Algorithm::HS256 {
            return Err(JwtError::Algorithm);
        }
        with_part(signature, |signature| {
            hmac::verify(&self.key, signed.as_bytes(), signature).map_err(|_| JwtError::Signature)
        })?;
        with_part(payload, |claims| {
            serde_json::from_slice(claims).map_err(|_| JwtError::Malformed)
        })
    }
}

/// Hands `part`, base64url-decoded, to `read`: from a buffer on the stack
/// when it fits (every part of a usual token does), so a check allocates
/// only its claims.
fn with_part<R>(part: &str, read: impl FnOnce(&[u8]) -> Result<R, JwtError>) -> Result<R, JwtError> {
    const ON_STACK: usize = 384;
    if part.len() > ON_STACK / 3 * 4 {
        return read(&URL_SAFE_NO_PAD.decode(part).map_err(|_| JwtError::Malformed)?);
    }
    let mut buffer = [0u8; ON_STACK];
    let len = URL_SAFE_NO_PAD
        .decode_slice(part, &mut buffer)
        .map_err(|_| JwtError::Malformed)?;
    read(&buffer[..len])
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{DecodingKey, EncodingKey, Header};

    use super::super::jwt::sign;
    use super::super::tokens::decode;
    use super::*;
    use flashsale_domain::UserId;

    const SECRET: &[u8] = b"test-secret-of-enough-length-000";

    fn b64(raw: &str) -> String {
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// The same verdict as `jsonwebtoken` on every token: the same claims,
    /// or the same refusal.
    #[test]
    fn refuses_what_the_crate_refuses() {
        let good = sign(SECRET, &UserId::parse("buyer-1").unwrap(), 1_000, 2_000);
        let other = sign(
            b"another-secret-of-enough-length-",
            &UserId::parse("b").unwrap(),
            1_000,
            2_000,
        );
        let (head, rest) = good.split_once('.').unwrap();
        let (payload, signature) = rest.split_once('.').unwrap();
        let claims = r#"{"sub":"buyer-2","exp":2000}"#;
        let unsigned_alg = |alg: &str| {
            format!(
                "{}.{}.{signature}",
                b64(&format!(r#"{{"alg":"{alg}"}}"#)),
                b64(claims)
            )
        };
        let resigned = |header: &str, payload: &str| {
            let signed = format!("{}.{}", b64(header), b64(payload));
            let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, SECRET), signed.as_bytes());
            format!("{signed}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
        };
        let long_claims = |n: usize| format!(r#"{{"sub":"x","exp":2000,"iss":"{}"}}"#, "i".repeat(n));
        let hs384 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS384),
            &serde_json::json!({"sub": "x", "exp": 2000}),
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        let cases = [
            good.clone(),
            other,
            hs384,
            format!("{head}.{payload}.{}", &signature[1..]),
            format!("{head}.{payload}"),
            format!("{head}.{payload}.{signature}.x"),
            format!("{head}.{payload}.{signature}="),
            format!("{head}x.{payload}.{signature}"),
            format!("{head}.{payload}x.{signature}"),
            unsigned_alg("none"),
            unsigned_alg("RS256"),
            resigned(r#"{"alg":"HS256","typ":"JWT"}"#, claims),
            resigned(r#"{"alg":"HS256"}"#, "not json"),
            resigned(r#"{"alg":"HS256"}"#, r#"{"sub":"x"}"#),
            // Claims too long for the stack buffer, and as long as it holds.
            resigned(r#"{"alg":"HS256"}"#, &long_claims(600)),
            resigned(
                r#"{"alg":"HS256"}"#,
                &long_claims(384 - r#"{"sub":"x","exp":2000,"iss":""}"#.len()),
            ),
            resigned(r#"{"typ":"JWT"}"#, claims),
            resigned("[]", claims),
            String::new(),
            "..".into(),
        ];
        let key = Hs256::new(SECRET);
        let crate_key = DecodingKey::from_secret(SECRET);
        for token in cases {
            let ours = key.decode(&token).map(|c| format!("{c:?}"));
            let theirs = decode(&token, &crate_key, Algorithm::HS256).map(|c| format!("{c:?}"));
            assert_eq!(ours, theirs, "{token}");
        }
        assert!(key.decode(&good).is_ok());
    }
}
