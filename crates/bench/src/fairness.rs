//! `flashsale bench fairness`: who wins a sale's opening second (issue 19).
//!
//! A scheduled sale; at its start a few **fast** buyers (bots next to the
//! data centre: they fire at the start to the millisecond) and many
//! **slow** ones (people: each presses "Buy" a random 0–500 ms after the
//! start), one purchase each, on connections opened beforehand. The report
//! compares the fast buyers' share of the units with their share of the
//! buyers, and with the range a fair draw would give (the winners drawn
//! uniformly from everybody who came: a hypergeometric count, shown as its
//! mean ± 3.29 standard deviations, 99.9%). First come, first served hands
//! the fast buyers nearly every unit; with `--fair-start-seconds` the
//! opening is drawn, and their share of the units is their share of the
//! buyers.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::time::Duration;

use clap::Args;
use hyper::body::Bytes;
use hyper::Method;
use serde::Serialize;
use serde_json::json;

use crate::stampede::{error_code, post_sale, send, token, BenchError, EngineSecrets};
use flashsale_testkit::http::{authority, Conn};

/// `flashsale bench fairness`.
#[derive(Debug, Clone, Args)]
pub struct FairnessArgs {
    /// The gateway's URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub target: String,
    /// Units on sale.
    #[arg(long, default_value_t = 100)]
    pub stock: u64,
    /// Buyers who fire at the start.
    #[arg(long, default_value_t = 100)]
    pub fast: u64,
    /// Buyers who fire a random 0 to `--spread-ms` after the start.
    #[arg(long, default_value_t = 1000)]
    pub slow: u64,
    #[arg(long, default_value_t = 500)]
    pub spread_ms: u64,
    /// Seed of the slow buyers' delays.
    #[arg(long, default_value_t = 19)]
    pub seed: u64,
    /// The sale's fair start: attempts until this many seconds after the
    /// start enter its opening draw (0: first come, first served).
    #[arg(long, default_value_t = 0)]
    pub fair_start_seconds: u64,
    #[command(flatten)]
    pub secrets: EngineSecrets,
}

/// What the opening second gave.
#[derive(Debug, Clone, Serialize)]
pub struct FairnessReport {
    pub sale_id: String,
    pub stock: u64,
    pub fast: u64,
    pub slow: u64,
    pub spread_ms: u64,
    pub fair_start_seconds: u64,
    pub fast_units: u64,
    pub slow_units: u64,
    /// Answers other than 202 and 409 `sold_out`.
    pub other_answers: u64,
    /// The fast buyers' units under a fair draw: mean, and ± 99.9%.
    pub fair_mean: f64,
    pub fair_margin: f64,
}

impl FairnessReport {
    pub fn fast_share_of_buyers(&self) -> f64 {
        self.fast as f64 / (self.fast + self.slow) as f64
    }

    pub fn fast_share_of_units(&self) -> f64 {
        let sold = self.fast_units + self.slow_units;
        if sold == 0 {
            return 0.0;
        }
        self.fast_units as f64 / sold as f64
    }

    /// Whether the fast buyers' units lie within what a fair draw gives.
    pub fn within_fair_range(&self) -> bool {
        (self.fast_units as f64 - self.fair_mean).abs() <= self.fair_margin
    }

    pub fn table(&self) -> String {
        format!(
            "Opening of sale {} ({}): {} units, {} fast buyers (at the start), {} slow (0-{} ms after)\n\
             | | fast buyers | slow buyers |\n|---|---:|---:|\n\
             | share of the buyers | {:.1}% | {:.1}% |\n\
             | units won | {} | {} |\n\
             | share of the units | {:.1}% | {:.1}% |\n\
             | a fair draw: fast buyers' units | {:.1} ± {:.1} (99.9%) | |\n\
             fast buyers' units {} a fair draw's range; {} answers other than 202 and sold_out\n",
            self.sale_id,
            match self.fair_start_seconds {
                0 => "first come, first served".to_owned(),
                f => format!("a fair start: the first {f} s drawn"),
            },
            self.stock,
            self.fast,
            self.slow,
            self.spread_ms,
            100.0 * self.fast_share_of_buyers(),
            100.0 * (1.0 - self.fast_share_of_buyers()),
            self.fast_units,
            self.slow_units,
            100.0 * self.fast_share_of_units(),
            100.0 * (1.0 - self.fast_share_of_units()),
            self.fair_mean,
            self.fair_margin,
            if self.within_fair_range() {
                "within"
            } else {
                "outside"
            },
            self.other_answers,
        )
    }
}

/// The fast buyers' winners under a fair draw of `stock` among everybody:
/// hypergeometric mean and 3.29 standard deviations.
fn fair_range(stock: u64, fast: u64, slow: u64) -> (f64, f64) {
    let all = (fast + slow) as f64;
    let n = stock.min(fast + slow) as f64;
    let p = fast as f64 / all;
    let variance = if all > 1.0 {
        n * p * (1.0 - p) * (all - n) / (all - 1.0)
    } else {
        0.0
    };
    (n * p, 3.29 * variance.sqrt())
}

/// A delay in `0..spread` for slow buyer `i`, the same for the same seed.
fn delay(seed: u64, i: u64, spread: u64) -> Duration {
    let mut h = DefaultHasher::new();
    (seed, i).hash(&mut h);
    Duration::from_millis(h.finish() % spread.max(1))
}

/// How far ahead the sale starts: time to open every connection first.
const LEAD: Duration = Duration::from_secs(3);

/// Runs the opening; see the module docs.
pub async fn run(args: &FairnessArgs) -> Result<FairnessReport, BenchError> {
    if args.stock == 0 || args.fast + args.slow == 0 {
        return Err(BenchError::Setup("--stock and the buyers must be above 0".into()));
    }
    let authority = authority(&args.target).map_err(BenchError::Setup)?;
    let (admin, jwt) = args.secrets.read()?;
    let mut conn = Conn::new(authority.clone());
    let starts = chrono::Utc::now() + chrono::Duration::from_std(LEAD).expect("seconds fit");
    let body = json!({"name": "bench fairness", "product": "opening", "price_cents": 1,
                      "stock": args.stock, "per_user_limit": 1,
                      "starts_at": starts.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                      "fair_start_seconds": args.fair_start_seconds});
    let sale = post_sale(&mut conn, &admin, &body).await?;
    let start = tokio::time::Instant::now() + LEAD;
    let path = format!("/api/sales/{sale}/purchase");
    let buyers = (0..args.fast + args.slow).map(|i| {
        let fast = i < args.fast;
        let fires = start
            + if fast {
                Duration::ZERO
            } else {
                delay(args.seed, i, args.spread_ms)
            };
        let bearer = token(&jwt, &format!("opening-{i}"));
        let (authority, path, sale) = (authority.clone(), path.clone(), sale.clone());
        async move {
            let mut conn = Conn::new(authority);
            // The connection is open before the start.
            send(&mut conn, Method::GET, &format!("/api/sales/{sale}"), None, None).await?;
            tokio::time::sleep_until(fires).await;
            let body = Bytes::from_static(br#"{"quantity":1}"#);
            loop {
                let (status, answer) =
                    send(&mut conn, Method::POST, &path, Some(&bearer), Some(body.clone())).await?;
                let code = error_code(&answer);
                // A clock a hair behind the engine's: try again at once.
                if code == "sale_not_active" && tokio::time::Instant::now() < start + Duration::from_secs(2) {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    continue;
                }
                return Ok::<_, BenchError>((fast, status, code));
            }
        }
    });
    let answers = futures_util::future::join_all(buyers).await;
    let (mut fast_units, mut slow_units, mut other) = (0, 0, 0);
    for answer in answers {
        match answer? {
            (true, 202, _) => fast_units += 1,
            (false, 202, _) => slow_units += 1,
            (_, 409, code) if code == "sold_out" => {}
            _ => other += 1,
        }
    }
    let (fair_mean, fair_margin) = fair_range(args.stock, args.fast, args.slow);
    Ok(FairnessReport {
        sale_id: sale,
        stock: args.stock,
        fast: args.fast,
        slow: args.slow,
        spread_ms: args.spread_ms,
        fair_start_seconds: args.fair_start_seconds,
        fast_units,
        slow_units,
        other_answers: other,
        fair_mean,
        fair_margin,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fair_range_is_the_hypergeometric_one() {
        // 100 of 1,100 buyers are fast, 100 units: 9.09 expected, and the
        // finite-population correction shrinks the spread a little.
        let (mean, margin) = fair_range(100, 100, 1000);
        assert!((mean - 9.0909).abs() < 1e-3, "{mean}");
        assert!(
            (margin - 3.29 * (100.0 * (1.0 / 11.0) * (10.0 / 11.0) * 1000.0 / 1099.0f64).sqrt()).abs() < 1e-9
        );
        // Everybody wins when the stock covers everybody.
        assert_eq!(fair_range(5000, 100, 1000), (100.0, 0.0));
    }
}
