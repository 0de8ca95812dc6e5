//! Buyer tokens (HS256 JWTs, `sub` the buyer): valid ones, and every kind
//! of bad one for the bad-input tests (forged, expired, `alg: none`,
//! another algorithm). Signed here, not by the engine's own code, so a test
//! of the engine's checks does not share the engine's mistakes.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// An HS256 token with `header` and `claims` (raw JSON), signed with `secret`.
pub fn sign_raw(secret: &[u8], header: &str, claims: &str) -> String {
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key");
    mac.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

/// A valid buyer token for `user`, for an hour, signed with `secret`.
pub fn buyer_with(secret: &[u8], user: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = serde_json::json!({"sub": user, "iat": now, "exp": now + 3600}).to_string();
    sign_raw(secret, r#"{"alg":"HS256","typ":"JWT"}"#, &claims)
}

/// Tokens the engine must refuse with 401, each with what is wrong with it.
pub fn bad_tokens(secret: &[u8], user: &str) -> Vec<(&'static str, String)> {
    let now = chrono::Utc::now().timestamp();
    let header = r#"{"alg":"HS256","typ":"JWT"}"#;
    let claims = |exp: i64| serde_json::json!({"sub": user, "iat": now, "exp": exp}).to_string();
    let good = sign_raw(secret, header, &claims(now + 3600));
    let parts: Vec<&str> = good.split('.').collect();
    let none = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let none_lower = URL_SAFE_NO_PAD.encode(r#"{"alg":"None"}"#);
    let hs512 = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS512","typ":"JWT"}"#);
    let admin_claims = URL_SAFE_NO_PAD.encode(r#"{"sub":"admin","exp":99999999999}"#);
    vec![
        (
            "forged (another secret)",
            sign_raw(b"not-the-engine-secret-000000000000", header, &claims(now + 3600)),
        ),
        ("expired", sign_raw(secret, header, &claims(now - 10))),
        ("alg none, no signature", format!("{none}.{}.", parts[1])),
        (
            "alg None, original signature",
            format!("{none_lower}.{}.{}", parts[1], parts[2]),
        ),
        ("alg HS512", format!("{hs512}.{}.{}", parts[1], parts[2])),
        (
            "payload swapped under a valid signature",
            format!("{}.{admin_claims}.{}", parts[0], parts[2]),
        ),
        (
            "no exp",
            sign_raw(secret, header, &serde_json::json!({"sub": user}).to_string()),
        ),
        (
            "empty subject",
            sign_raw(
                secret,
                header,
                &serde_json::json!({"sub": "", "exp": now + 3600}).to_string(),
            ),
        ),
        (
            "subject with a newline",
            sign_raw(
                secret,
                header,
                &serde_json::json!({"sub": "a\nb", "exp": now + 3600}).to_string(),
            ),
        ),
        (
            "exp as a string",
            sign_raw(
                secret,
                header,
                &serde_json::json!({"sub": user, "exp": "never"}).to_string(),
            ),
        ),
        ("two parts", format!("{}.{}", parts[0], parts[1])),
        ("four parts", format!("{good}.x")),
        ("not base64", "!!!.@@@.###".to_owned()),
        ("empty", String::new()),
        ("huge", "a".repeat(8000)),
    ]
}
