//! `flashsale bench tokens`: what verifying a buyer token costs the
//! gateway, per algorithm, the first time and once remembered.
//!
//! The gateway's own [`BuyerTokens`] verify tokens signed with the test
//! identity provider's keys, served as a JWKS from this process. Each
//! token is new the first time (the signature is checked); the same
//! RS256 and ES256 tokens again are answered from the verified tokens
//! (HS256 ones are checked again: that costs about what remembering does).

use std::sync::Arc;
use std::time::{Duration, Instant};

use flashsale_domain::UserId;
use flashsale_gateway::auth::jwks::Jwks;
use flashsale_gateway::auth::jwt::{sign, Rules};
use flashsale_gateway::auth::tokens::{Algorithm, BuyerTokens};
use flashsale_testkit::idp::{self, JwksServer, TestKey};

const SECRET: &[u8] = b"bench-secret-of-enough-length-00";

/// Options of `flashsale bench tokens`.
#[derive(Debug, Clone, clap::Args)]
pub struct TokensArgs {
    /// Distinct tokens per algorithm.
    #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub tokens: u32,
}

/// One algorithm's figures.
#[derive(Debug, Clone)]
pub struct TokenCost {
    pub algorithm: &'static str,
    /// Mean time of a first verification.
    pub first: Duration,
    /// Mean time of the same token's second verification.
    pub again: Duration,
}

/// Why the bench could not run.
#[derive(Debug, thiserror::Error)]
pub enum TokensError {
    #[error("the local JWKS: {0}")]
    Jwks(#[from] flashsale_gateway::auth::jwks::JwksError),
    #[error("cannot serve the local JWKS: {0}")]
    Io(#[from] std::io::Error),
    #[error("a {algorithm} token was refused: {reason}")]
    Refused { algorithm: &'static str, reason: String },
}

async fn local_provider() -> Result<Arc<Jwks>, TokensError> {
    let provider = JwksServer::start(&[TestKey::RsaA, TestKey::EcC]).await?;
    let jwks = Arc::new(Jwks::new(&provider.url, Duration::from_secs(60))?);
    jwks.refresh().await?;
    Ok(jwks)
}

async fn mean_verify(
    tokens: &BuyerTokens,
    signed: &[String],
    algorithm: &'static str,
) -> Result<Duration, TokensError> {
    let now = chrono::Utc::now().timestamp();
    let started = Instant::now();
    for token in signed {
        tokens
            .verify(token, now)
            .await
            .map_err(|e| TokensError::Refused {
                algorithm,
                reason: e.to_string(),
            })?;
    }
    Ok(started.elapsed() / signed.len() as u32)
}

/// A token for `user` valid for an hour: HS256 with the engine's secret,
/// or signed with the test identity provider's RSA or P-256 key.
fn mint(algorithm: &str, user: &str, now: i64) -> String {
    match algorithm {
        "HS256" => {
            let user = UserId::parse(user).expect("bench user ids are valid");
            sign(SECRET, &user, now, now + 3600)
        }
        "RS256" => TestKey::RsaA.sign(&idp::claims(user, "bench", "bench")),
        _ => TestKey::EcC.sign(&idp::claims(user, "bench", "bench")),
    }
}

/// Verifies `args.tokens` tokens of HS256, RS256 and ES256, twice each.
pub async fn run(args: &TokensArgs) -> Result<Vec<TokenCost>, TokensError> {
    let jwks = local_provider().await?;
    let all = vec![Algorithm::HS256, Algorithm::RS256, Algorithm::ES256];
    let now = chrono::Utc::now().timestamp();
    let users: Vec<String> = (0..args.tokens).map(|i| format!("buyer-{i}")).collect();
    let mut costs = Vec::new();
    for algorithm in ["HS256", "RS256", "ES256"] {
        let signed: Vec<String> = users.iter().map(|u| mint(algorithm, u, now)).collect();
        let tokens = BuyerTokens::new(SECRET, all.clone(), Some(Arc::clone(&jwks)), Rules::default())
            .expect("three algorithms and a JWKS are a valid setup");
        let first = mean_verify(&tokens, &signed, algorithm).await?;
        let again = mean_verify(&tokens, &signed, algorithm).await?;
        costs.push(TokenCost {
            algorithm,
            first,
            again,
        });
    }
    Ok(costs)
}

/// The table `flashsale bench tokens` prints.
pub fn table(costs: &[TokenCost], args: &TokensArgs) -> String {
    let mut out = format!(
        "buyer-token verification, {} distinct tokens per algorithm, one thread\n\n",
        args.tokens
    );
    out.push_str("| algorithm | first verification | the same token again | ratio |\n|---|---|---|---|\n");
    for cost in costs {
        let ratio = cost.first.as_secs_f64() / cost.again.as_secs_f64().max(1e-9);
        out.push_str(&format!(
            "| {} | {:.1} µs | {:.2} µs | {ratio:.0}× |\n",
            cost.algorithm,
            cost.first.as_secs_f64() * 1e6,
            cost.again.as_secs_f64() * 1e6,
        ));
    }
    out
}
