//! `flashsale token <user>`: a buyer JWT signed with the engine's secret.

use std::path::Path;
use std::time::Duration;

use flashsale_domain::UserId;

use crate::settings::JwtSettings;

/// Why no token was minted.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("invalid user id: {0}")]
    User(#[from] flashsale_domain::IdError),
    #[error("invalid --ttl {0:?}: use seconds or a number with s, m, h or d (e.g. 3600, 30m, 12h)")]
    Ttl(String),
    #[error(
        "no JWT secret: set FLASHSALE_JWT_SECRET, or start the engine once with this data folder ({0}) so it generates one"
    )]
    NoSecret(String),
    #[error(transparent)]
    Secret(#[from] crate::secrets::SecretError),
    #[error("the engine does not accept HS256 tokens (FLASHSALE_JWT_ALGORITHMS is {0}): buyers sign in with the identity provider")]
    NotAccepted(String),
    #[error(transparent)]
    Algorithms(#[from] flashsale_gateway::auth::tokens::TokenSettingsError),
    #[error("--ttl {ttl} s is longer than the engine accepts ({max} s, FLASHSALE_JWT_MAX_TTL)")]
    TooLong { ttl: u64, max: u64 },
}

/// Parses `3600`, `90s`, `30m`, `12h`, `7d`; between 1 s and 366 days.
pub fn parse_ttl(raw: &str) -> Result<Duration, TokenError> {
    crate::settings::parse_duration(raw)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| TokenError::Ttl(raw.to_owned()))
}

/// A token for `user`, valid for `ttl`, carrying the issuer and audience
/// the engine requires.
pub fn mint(
    user: &str,
    ttl: Duration,
    secret: Option<&str>,
    data_dir: &Path,
    jwt: &JwtSettings,
) -> Result<String, TokenError> {
    let user = UserId::parse(user)?;
    let algorithms = jwt.algorithms()?;
    if !algorithms.contains(&flashsale_gateway::auth::tokens::Algorithm::HS256) {
        let names: Vec<String> = algorithms.iter().map(|a| format!("{a:?}")).collect();
        return Err(TokenError::NotAccepted(names.join(",")));
    }
    if ttl > jwt.max_ttl {
        return Err(TokenError::TooLong {
            ttl: ttl.as_secs(),
            max: jwt.max_ttl.as_secs(),
        });
    }
    let secret = match secret.filter(|s| !s.is_empty()) {
        Some(s) => s.to_owned(),
        None => crate::secrets::read_stored(data_dir, crate::secrets::JWT_SECRET_FILE)?
            .ok_or_else(|| TokenError::NoSecret(data_dir.display().to_string()))?,
    };
    let now = chrono::Utc::now().timestamp();
    Ok(flashsale_gateway::auth::jwt::sign_for(
        secret.as_bytes(),
        &user,
        now,
        now + ttl.as_secs() as i64,
        &jwt.rules(),
    ))
}

/// The shop page's link that signs `token`'s buyer in: the token rides in
/// the fragment, which browsers never send to a server (the page moves it
/// to session storage and clears it from the address bar).
pub fn shop_url(target: &str, token: &str) -> String {
    format!("{}/shop/#token={token}", target.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_accepts_units_and_refuses_nonsense() {
        assert_eq!(parse_ttl("3600").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_ttl("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(parse_ttl("2d").unwrap(), Duration::from_secs(172_800));
        for bad in ["", "0", "-5", "1y", "h", "999999d", "1.5h"] {
            assert!(parse_ttl(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_shop_link_carries_the_token_in_its_fragment() {
        assert_eq!(
            shop_url("http://127.0.0.1:8080/", "a.b.c"),
            "http://127.0.0.1:8080/shop/#token=a.b.c"
        );
    }
}
