//! `flashsale bench stampede`: fire a stampede at one or more gateways,
//! then verify every invariant through the API.
//!
//! 1. The ceiling: a bare axum server answering the same purchase-shaped
//!    POST (see [`crate::ceiling`]), so every figure reads as a ratio of what
//!    this machine's HTTP stack can do at all; `--ceiling engine` measures
//!    the engine's own `GET /api/sales/<not an id>` (a 404) instead.
//! 2. The stampede: `buyers × attempts` purchases of one unit over
//!    `concurrency` keep-alive connections spread over the targets, each
//!    buyer a fresh JWT; a progress line on stderr.
//! 3. The verification: accepted units = min(stock, demand), remaining 0
//!    when demand ≥ stock, every 202 order read back `confirmed` by its
//!    buyer, no buyer above the limit, no duplicate order id.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use flashsale_domain::UserId;
use hdrhistogram::Histogram;
use hyper::body::Bytes;
use hyper::Method;
use serde_json::{json, Value};

use crate::report::{Check, Latency, Report};
use flashsale_testkit::http::{authority, ClientError, Conn};

/// `flashsale bench stampede`.
#[derive(Debug, Clone, Args)]
pub struct StampedeArgs {
    /// Gateway URL(s), comma-separated; connections are spread over them.
    #[arg(long, default_value = "http://127.0.0.1:8080", value_delimiter = ',')]
    pub target: Vec<String>,
    /// Distinct buyers.
    #[arg(long, default_value_t = 10_000)]
    pub buyers: u64,
    /// Units of the sale created for the run.
    #[arg(long, default_value_t = 1_000)]
    pub stock: u64,
    /// Purchase attempts per buyer.
    #[arg(long, default_value_t = 1)]
    pub attempts_per_buyer: u32,
    /// Connections (requests in flight).
    #[arg(long, default_value_t = 256)]
    pub concurrency: usize,
    /// Stop firing after this many seconds even if attempts remain.
    #[arg(long)]
    pub duration: Option<f64>,
    /// Per-user limit of the sale created for the run.
    #[arg(long, default_value_t = 1)]
    pub limit: u32,
    /// Redis slots the sale's stock is split over (`stock_buckets`, 1-16):
    /// a hot sale on several cluster masters.
    #[arg(long, default_value_t = 1)]
    pub buckets: u32,
    /// Use this existing, active sale instead of creating one.
    #[arg(long)]
    pub sale: Option<String>,
    /// Seconds spent measuring the ceiling first; 0 skips it.
    #[arg(long, default_value_t = 3.0)]
    pub ceiling_seconds: f64,
    /// The ceiling: `bare` (a bare axum server answering the same POST, in
    /// this process) or `engine` (the engine's own 404).
    #[arg(long, default_value = "bare", value_parser = ["bare", "engine"])]
    pub ceiling: String,
    /// The engine's Redis: prints its time and commands per accepted
    /// purchase (`INFO commandstats` before and after).
    #[arg(long, env = "FLASHSALE_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// The engine's PostgreSQL: prints its commits per 1,000 orders.
    #[arg(long, env = "FLASHSALE_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// The engine's process id, to report its peak RSS and its CPU time per
    /// request (same machine only).
    #[arg(long)]
    pub pid: Option<u32>,
    /// Also write the report as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Seconds to wait for every accepted order to read `confirmed`.
    #[arg(long, default_value_t = 60.0)]
    pub confirm_timeout: f64,
    /// A sale whose units are held while buyers pay (seconds, or with s or
    /// m): the stampede then runs until every unit is paid, buyers who win
    /// paying with probability `--pay-ratio`, the others' units expiring
    /// and selling again.
    #[arg(long, value_parser = window)]
    pub payment_window: Option<Duration>,
    /// With `--payment-window`: the share of winners who pay.
    #[arg(long, default_value_t = 0.7)]
    pub pay_ratio: f64,
    /// With `--payment-window`: pay through the engine's webhook with this
    /// secret; without it, buyers pay themselves (simulated payments).
    #[arg(long, env = "FLASHSALE_PAYMENT_WEBHOOK_SECRET", hide_env_values = true)]
    pub payment_webhook_secret: Option<String>,
    #[command(flatten)]
    pub secrets: EngineSecrets,
}

/// `5`, `5s` or `2m`: 1 s to a day.
fn window(raw: &str) -> Result<Duration, String> {
    let (number, unit) = match raw.strip_suffix('s') {
        Some(n) => (n, 1),
        None => match raw.strip_suffix('m') {
            Some(n) => (n, 60),
            None => (raw, 1),
        },
    };
    number
        .parse::<u64>()
        .ok()
        .map(|n| n * unit)
        .filter(|s| (1..=86_400).contains(s))
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{raw}: use seconds, or a number with s or m, from 1 s to a day"))
}

/// The engine's admin token and JWT secret: given, or read from its data
/// folder.
#[derive(Debug, Clone, Args)]
pub struct EngineSecrets {
    #[arg(long, env = "FLASHSALE_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    #[arg(long, env = "FLASHSALE_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Where the engine keeps generated secrets, when they are not given.
    #[arg(long, env = "FLASHSALE_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
}

impl EngineSecrets {
    /// The admin token and the JWT secret.
    pub(crate) fn read(&self) -> Result<(String, String), BenchError> {
        let admin = secret(
            &self.admin_token,
            &self.data_dir,
            "admin_token",
            "FLASHSALE_ADMIN_TOKEN",
        )?;
        let jwt = secret(
            &self.jwt_secret,
            &self.data_dir,
            "jwt_secret",
            "FLASHSALE_JWT_SECRET",
        )?;
        Ok((admin, jwt))
    }
}

/// Why the stampede could not run (not: an invariant failed; that is in the
/// report).
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{0}")]
    Setup(String),
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// A secret given on the command line, or kept in the engine's data folder.
fn secret(
    given: &Option<String>,
    data_dir: &std::path::Path,
    file: &str,
    var: &str,
) -> Result<String, BenchError> {
    if let Some(s) = given.as_ref().filter(|s| !s.is_empty()) {
        return Ok(s.clone());
    }
    std::fs::read_to_string(data_dir.join(file))
        .map(|s| s.trim().to_owned())
        .map_err(|_| {
            BenchError::Setup(format!(
                "set {var} (or --data-dir to the engine's data folder holding {file})"
            ))
        })
}

pub(crate) fn token(secret: &str, user: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    let user = UserId::parse(user).expect("generated user ids are valid");
    flashsale_gateway::auth::jwt::sign(secret.as_bytes(), &user, now, now + 3600)
}

/// The `error.code` of an error body, "" if none.
pub(crate) fn error_code(body: &[u8]) -> String {
    string_field(body, "code").unwrap_or_default().to_owned()
}

/// The first string field `name` of a JSON answer, read without parsing
/// the whole: the generator shares the machine with the engine, and reads
/// every answer. The engine's ids and codes hold no escapes.
fn string_field<'a>(body: &'a [u8], name: &str) -> Option<&'a str> {
    let body = std::str::from_utf8(body).ok()?;
    let start = body.match_indices(name).find_map(|(at, _)| {
        let quoted = body[..at].ends_with('"') && body[at + name.len()..].starts_with("\":\"");
        quoted.then_some(at + name.len() + 3)
    })?;
    let len = body[start..].find('"')?;
    Some(&body[start..start + len])
}

/// What one worker saw.
struct Tally {
    latency: Histogram<u64>,
    /// (status, error code) → answers; status 0 for a transport error. A
    /// few rows, searched in place so that counting allocates nothing.
    answers: Vec<(u16, String, u64)>,
    accepted: Vec<(String, u64)>,
    last_accepted: Option<Instant>,
}

impl Tally {
    fn new() -> Self {
        Self {
            latency: Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds"),
            answers: Vec::new(),
            accepted: Vec::new(),
            last_accepted: None,
        }
    }
}

/// Runs the whole stampede; the report says whether every invariant held.
pub async fn run(args: StampedeArgs) -> Result<Report, BenchError> {
    if let Some(window) = args.payment_window {
        return crate::checkout::run(args, window).await;
    }
    let authorities: Vec<String> = args
        .target
        .iter()
        .map(|t| authority(t))
        .collect::<Result<_, _>>()
        .map_err(BenchError::Setup)?;
    if args.buyers == 0 || args.attempts_per_buyer == 0 || args.concurrency == 0 {
        return Err(BenchError::Setup(
            "--buyers, --attempts-per-buyer and --concurrency must be at least 1".into(),
        ));
    }
    let (admin, jwt) = args.secrets.read()?;
    let mut report = Report {
        targets: args.target.clone(),
        buyers: args.buyers,
        attempts_per_buyer: args.attempts_per_buyer,
        concurrency: args.concurrency,
        ..Report::default()
    };
    let redis_before = match &args.redis_url {
        Some(url) => Some(
            crate::ceiling::redis_stats(url)
                .await
                .map_err(BenchError::Setup)?,
        ),
        None => None,
    };
    let mut conn = Conn::new(authorities[0].clone());
    let commits_before = match &args.database_url {
        Some(url) => Some(
            crate::ceiling::postgres_commits(url)
                .await
                .map_err(BenchError::Setup)?,
        ),
        None => None,
    };
    let sale_id = match &args.sale {
        Some(id) => id.clone(),
        None => create_sale_in(&mut conn, &admin, args.stock, args.limit, args.buckets).await?,
    };
    let sale = get_json(&mut conn, &format!("/api/sales/{sale_id}"), None).await?;
    report.sale_id = sale_id.clone();
    report.stock = sale["stock"].as_u64().unwrap_or(0);
    report.per_user_limit = sale["per_user_limit"].as_u64().unwrap_or(0) as u32;
    let sold_before = sale["sold"].as_u64().unwrap_or(0);

    // Tokens are minted before the clock starts: signing costs the generator
    // CPU that, on a shared machine, the engine would not get.
    eprintln!("minting {} buyer tokens...", args.buyers);
    let tokens: Arc<Vec<String>> = Arc::new(
        (0..args.buyers)
            .map(|b| token(&jwt, &format!("bench-{b}")))
            .collect(),
    );
    if args.ceiling_seconds > 0.0 {
        eprintln!(
            "measuring the ceiling ({}) for {:.0} s...",
            args.ceiling, args.ceiling_seconds
        );
        report.ceiling_kind = args.ceiling.clone();
        report.ceiling_per_second = Some(if args.ceiling == "bare" {
            let bare = crate::ceiling::BareServer::start()
                .map_err(|e| BenchError::Setup(format!("the bare server: {e}")))?;
            // The stampede's own generator, with the same tokens and the
            // same work per answer, but for keeping each order id for the
            // read-back (that would lower the ceiling, and flatter every
            // ratio).
            let started = Instant::now();
            let until = started + Duration::from_secs_f64(args.ceiling_seconds);
            let firing = Firing {
                authorities: &[bare.addr.to_string()],
                concurrency: args.concurrency,
                path: "/purchase",
                tokens: &tokens,
                total: u64::MAX,
                deadline: Some(until),
                keep_orders: false,
            };
            let tallies = fire(firing, &Arc::default()).await?;
            let requests: u64 = tallies.iter().map(|t| t.latency.len()).sum();
            requests as f64 / started.elapsed().as_secs_f64()
        } else {
            let cpu_before = args.pid.and_then(process_cpu_seconds);
            let (requests, seconds) = ceiling(&authorities, args.concurrency, args.ceiling_seconds).await;
            report.ceiling_engine_cpu_us_per_request = cpu_per_request(args.pid, cpu_before, requests);
            requests as f64 / seconds
        });
    }
    let total = args.buyers * u64::from(args.attempts_per_buyer);
    let counters = Arc::new(Counters::default());
    let deadline = args.duration.map(|d| Instant::now() + Duration::from_secs_f64(d));
    let cpu_before = args.pid.and_then(process_cpu_seconds);
    let started = Instant::now();
    let stop_progress = Arc::new(AtomicBool::new(false));
    let progress = tokio::spawn(show_progress(total, counters.clone(), stop_progress.clone()));
    let watcher = PersistenceWatcher::start(
        authorities[0].clone(),
        admin.clone(),
        sale_id.clone(),
        args.database_url.clone(),
    );
    let firing = Firing {
        authorities: &authorities,
        concurrency: args.concurrency,
        path: &format!("/api/sales/{sale_id}/purchase"),
        tokens: &tokens,
        total,
        deadline,
        keep_orders: true,
    };
    let tallies = fire(firing, &counters).await?;
    report.seconds = started.elapsed().as_secs_f64();
    stop_progress.store(true, Ordering::Relaxed);
    let _ = progress.await;

    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds");
    let mut answers: BTreeMap<String, u64> = BTreeMap::new();
    let mut accepted: Vec<(String, u64)> = Vec::new();
    let mut last_accepted: Option<Instant> = None;
    for t in tallies {
        let _ = latency.add(&t.latency);
        for (status, code, count) in t.answers {
            let key = match status {
                0 => "transport error".to_owned(),
                202 => "202".to_owned(),
                _ => format!("{status} {code}"),
            };
            *answers.entry(key).or_default() += count;
        }
        accepted.extend(t.accepted);
        last_accepted = last_accepted.max(t.last_accepted);
    }
    report.attempts = latency.len();
    report.engine_cpu_us_per_attempt = cpu_per_request(args.pid, cpu_before, report.attempts);
    report.attempts_per_second = report.attempts as f64 / report.seconds;
    report.accepted = accepted.len() as u64;
    report.accepted_per_second = report.accepted as f64 / report.seconds;
    report.latency = Latency::of(&latency);
    report.answers = answers;

    let expected_units = sold_before + report.accepted;
    let persisted_at = watcher.reached(expected_units, args.confirm_timeout).await;
    // The ledger's commits from the start until every order was stored
    // (the watcher reads inside one open transaction, and the read-back
    // below comes after): the engine's own.
    if let (Some(before), Some(url)) = (commits_before, &args.database_url) {
        // Each backend flushes its statistics at most a second late.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let after = crate::ceiling::postgres_commits(url)
            .await
            .map_err(BenchError::Setup)?;
        let commits = (after - before - 1).max(0) as f64;
        report.postgres_commits_per_1000_orders = Some(commits * 1000.0 / report.accepted.max(1) as f64);
    }
    report.seconds_to_last_confirmed = match (persisted_at, last_accepted) {
        (Some(at), Some(last)) => Some(at.saturating_duration_since(last).as_secs_f64()),
        _ => None,
    };
    eprintln!("reading back {} accepted orders...", accepted.len());
    let all_confirmed = confirm_all(
        &authorities,
        &jwt,
        &accepted,
        args.concurrency.min(64),
        args.confirm_timeout,
    )
    .await;
    report.peak_rss_mib = args.pid.and_then(peak_rss_mib);
    if let (Some(before), Some(url)) = (&redis_before, &args.redis_url) {
        let after = crate::ceiling::redis_stats(url)
            .await
            .map_err(BenchError::Setup)?;
        report.redis = Some(crate::ceiling::redis_cost(before, &after, report.accepted));
    }
    let after = get_json(&mut conn, &format!("/api/sales/{sale_id}"), None).await?;
    report.checks = verify(&report, &args, &accepted, &after, sold_before, all_confirmed);
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report).expect("the report serialises");
        std::fs::write(path, text).map_err(|e| BenchError::Setup(format!("{}: {e}", path.display())))?;
    }
    Ok(report)
}

fn verify(
    report: &Report,
    args: &StampedeArgs,
    accepted: &[(String, u64)],
    after: &Value,
    sold_before: u64,
    all_confirmed: bool,
) -> Vec<Check> {
    let check = |name: &str, ok: bool, detail: String| Check {
        name: name.into(),
        ok,
        detail,
    };
    let mut checks = Vec::new();
    let clean = report.answers.keys().all(|k| k == "202" || k.starts_with("409"));
    let available = report.stock.saturating_sub(sold_before);
    let per_buyer_max = u64::from(args.attempts_per_buyer.min(report.per_user_limit));
    let demand = args.buyers * per_buyer_max;
    let sold = after["sold"].as_u64().unwrap_or(u64::MAX);
    let remaining = after["remaining"].as_u64().unwrap_or(u64::MAX);
    checks.push(check(
        "no oversell",
        report.accepted <= available && sold <= report.stock,
        format!(
            "{} accepted of {available} available; sale shows {sold} sold of {}",
            report.accepted, report.stock
        ),
    ));
    if clean && args.duration.is_none() {
        let expected = available.min(demand);
        checks.push(check(
            "accepted = min(stock, demand)",
            report.accepted == expected,
            format!(
                "{} accepted, expected {expected} (demand {demand})",
                report.accepted
            ),
        ));
        if demand >= available {
            checks.push(check(
                "sold out, remaining 0",
                remaining == 0,
                format!("remaining {remaining}"),
            ));
        }
    }
    checks.push(check(
        "sale ledger matches the 202s",
        sold == sold_before + report.accepted || args.sale.is_some(),
        format!(
            "sold {sold} = {sold_before} before + {} accepted",
            report.accepted
        ),
    ));
    let unique: HashSet<&str> = accepted.iter().map(|(id, _)| id.as_str()).collect();
    checks.push(check(
        "no duplicate order id",
        unique.len() == accepted.len() && !unique.contains(""),
        format!("{} distinct of {}", unique.len(), accepted.len()),
    ));
    let mut per_buyer: HashMap<u64, u64> = HashMap::new();
    for (_, buyer) in accepted {
        *per_buyer.entry(*buyer).or_default() += 1;
    }
    let worst = per_buyer.values().copied().max().unwrap_or(0);
    checks.push(check(
        "no buyer above the limit",
        worst <= u64::from(report.per_user_limit),
        format!(
            "most units to one buyer: {worst}, limit {}",
            report.per_user_limit
        ),
    ));
    checks.push(check(
        "every 202 is a confirmed order",
        all_confirmed,
        if all_confirmed {
            format!("{} orders confirmed", accepted.len())
        } else {
            "some orders never read confirmed".into()
        },
    ));
    checks
}

/// One request with a bearer token, answered whole.
pub(crate) async fn send(
    conn: &mut Conn,
    method: Method,
    path: &str,
    bearer: Option<&str>,
    body: Option<Bytes>,
) -> Result<(u16, Bytes), ClientError> {
    let authorization = bearer.map(|token| format!("Bearer {token}"));
    let headers: Vec<(&str, &str)> = authorization
        .as_deref()
        .map(|value| ("authorization", value))
        .into_iter()
        .collect();
    let answer = conn.request(method, path, &headers, body, None).await?;
    Ok((answer.status, answer.body))
}

pub(crate) async fn create_sale(
    conn: &mut Conn,
    admin: &str,
    stock: u64,
    limit: u32,
) -> Result<String, BenchError> {
    create_sale_in(conn, admin, stock, limit, 1).await
}

/// [`create_sale`] with its stock split over `buckets` Redis slots.
async fn create_sale_in(
    conn: &mut Conn,
    admin: &str,
    stock: u64,
    limit: u32,
    buckets: u32,
) -> Result<String, BenchError> {
    let body = json!({"name": "bench stampede", "product": "load", "price_cents": 1, "stock": stock,
                      "per_user_limit": limit, "stock_buckets": buckets});
    open_sale(conn, admin, &body).await
}

/// Creates the sale `body` describes (`POST /api/admin/sales`); returns
/// its id.
pub(crate) async fn post_sale(conn: &mut Conn, admin: &str, body: &Value) -> Result<String, BenchError> {
    let (status, answer) = send(
        conn,
        Method::POST,
        "/api/admin/sales",
        Some(admin),
        Some(Bytes::from(body.to_string())),
    )
    .await?;
    let sale: Value = serde_json::from_slice(&answer).unwrap_or_default();
    sale["id"]
        .as_str()
        .filter(|_| status == 201)
        .map(str::to_owned)
        .ok_or_else(|| {
            BenchError::Setup(format!(
                "creating the sale failed: {status} {}",
                String::from_utf8_lossy(&answer)
            ))
        })
}

/// Creates the sale `body` describes and starts it; returns its id.
pub(crate) async fn open_sale(conn: &mut Conn, admin: &str, body: &Value) -> Result<String, BenchError> {
    let id = post_sale(conn, admin, body).await?;
    let (status, answer) = send(
        conn,
        Method::POST,
        &format!("/api/admin/sales/{id}/start"),
        Some(admin),
        None,
    )
    .await?;
    if status != 200 {
        return Err(BenchError::Setup(format!(
            "starting the sale failed: {status} {}",
            String::from_utf8_lossy(&answer)
        )));
    }
    Ok(id)
}

pub(crate) async fn get_json(conn: &mut Conn, path: &str, bearer: Option<&str>) -> Result<Value, BenchError> {
    let (status, body) = send(conn, Method::GET, path, bearer, None).await?;
    if status != 200 {
        return Err(BenchError::Setup(format!(
            "GET {path}: {status} {}",
            String::from_utf8_lossy(&body)
        )));
    }
    serde_json::from_slice(&body).map_err(|e| BenchError::Setup(format!("GET {path}: {e}")))
}

/// Answers seen so far, for the progress line.
#[derive(Default)]
struct Counters {
    next: AtomicU64,
    done: AtomicU64,
    accepted: AtomicU64,
}

/// What the generator fires: see [`fire`].
struct Firing<'a> {
    authorities: &'a [String],
    concurrency: usize,
    path: &'a str,
    tokens: &'a Arc<Vec<String>>,
    total: u64,
    deadline: Option<Instant>,
    /// Keep each 202's order id for the read-back.
    keep_orders: bool,
}

/// `concurrency` keep-alive connections (spread over `authorities`) send
/// attempt `n` for `n` in `0..total`, until `deadline`: a purchase of one
/// unit at `path` with buyer `n % tokens.len()`'s token. Each answer is
/// timed and counted by status and error code.
async fn fire(firing: Firing<'_>, counters: &Arc<Counters>) -> Result<Vec<Tally>, BenchError> {
    let Firing {
        authorities,
        concurrency,
        path,
        tokens,
        total,
        deadline,
        keep_orders,
    } = firing;
    let path = Arc::new(path.to_owned());
    let workers: Vec<_> = (0..concurrency)
        .map(|w| {
            let authority = authorities[w % authorities.len()].clone();
            let (counters, path, tokens) = (counters.clone(), path.clone(), tokens.clone());
            let buyers = tokens.len() as u64;
            tokio::spawn(async move {
                let mut conn = Conn::new(authority);
                let mut tally = Tally::new();
                let body = Bytes::from_static(br#"{"quantity":1}"#);
                loop {
                    let n = counters.next.fetch_add(1, Ordering::Relaxed);
                    if n >= total || deadline.is_some_and(|d| Instant::now() >= d) {
                        return tally;
                    }
                    let buyer = n % buyers;
                    let bearer = &tokens[buyer as usize];
                    let sent = Instant::now();
                    let answer = send(&mut conn, Method::POST, &path, Some(bearer), Some(body.clone())).await;
                    let elapsed = sent.elapsed();
                    let _ = tally.latency.record((elapsed.as_micros() as u64).max(1));
                    let (status, body) = answer.unwrap_or_default();
                    let code = if status == 202 {
                        if keep_orders {
                            let order = string_field(&body, "order_id").unwrap_or_default();
                            tally.accepted.push((order.to_owned(), buyer));
                        }
                        tally.last_accepted = Some(Instant::now());
                        counters.accepted.fetch_add(1, Ordering::Relaxed);
                        ""
                    } else {
                        string_field(&body, "code").unwrap_or_default()
                    };
                    match tally
                        .answers
                        .iter_mut()
                        .find(|(s, c, _)| *s == status && c == code)
                    {
                        Some((_, _, count)) => *count += 1,
                        None => tally.answers.push((status, code.to_owned(), 1)),
                    }
                    counters.done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let mut tallies = Vec::with_capacity(workers.len());
    for w in workers {
        tallies.push(w.await.map_err(|e| BenchError::Setup(e.to_string()))?);
    }
    Ok(tallies)
}

/// Requests/s of `GET /api/sales/x` (404, no store touched).
async fn ceiling(authorities: &[String], concurrency: usize, seconds: f64) -> (u64, f64) {
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    let count = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..concurrency)
        .map(|w| {
            let (authority, count) = (authorities[w % authorities.len()].clone(), count.clone());
            tokio::spawn(async move {
                let mut conn = Conn::new(authority);
                while Instant::now() < until {
                    if send(&mut conn, Method::GET, "/api/sales/x", None, None)
                        .await
                        .is_ok()
                    {
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    let started = Instant::now();
    for w in workers {
        let _ = w.await;
    }
    (count.load(Ordering::Relaxed), started.elapsed().as_secs_f64())
}

/// Watches, from the start of the stampede, how many units of the sale the
/// order store holds, every 10 ms, so that the moment the last unit lands
/// is seen when it happens, not when the stampede is over. With the
/// ledger's URL it reads the ledger itself, inside one open transaction
/// (read committed: each read sees the latest commits), so that it commits
/// nothing that would count as the engine's; else the stats.
struct PersistenceWatcher {
    seen: Arc<Mutex<Vec<(Instant, u64)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl PersistenceWatcher {
    fn start(authority: String, admin: String, sale: String, database_url: Option<String>) -> Self {
        let seen: Arc<Mutex<Vec<(Instant, u64)>>> = Arc::default();
        let log = seen.clone();
        let record = move |units: u64| log.lock().expect("watcher lock").push((Instant::now(), units));
        let task = tokio::spawn(async move {
            if let Some(url) = database_url {
                use sqlx::Connection;
                let Ok(mut conn) = sqlx::PgConnection::connect(&url).await else {
                    return;
                };
                let Ok(mut tx) = conn.begin().await else { return };
                loop {
                    let units: Option<i64> =
                        sqlx::query_scalar("SELECT units FROM sale_totals WHERE sale_id = $1::uuid")
                            .bind(&sale)
                            .fetch_optional(&mut *tx)
                            .await
                            .ok()
                            .flatten();
                    record(units.unwrap_or(0).max(0) as u64);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            let mut conn = Conn::new(authority);
            loop {
                if let Ok(stats) = get_json(&mut conn, "/api/admin/stats", Some(&admin)).await {
                    let persisted = stats["sales"]
                        .as_array()
                        .and_then(|sales| sales.iter().find(|s| s["sale_id"] == sale.as_str()))
                        .and_then(|s| s["units_persisted"].as_u64())
                        .unwrap_or(0);
                    record(persisted);
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        Self { seen, task }
    }

    /// When the store first held `units`, waiting up to `timeout` seconds.
    async fn reached(self, units: u64, timeout: f64) -> Option<Instant> {
        let deadline = Instant::now() + Duration::from_secs_f64(timeout);
        let found = loop {
            let first = self
                .seen
                .lock()
                .expect("watcher lock")
                .iter()
                .find(|(_, n)| *n >= units)
                .map(|(at, _)| *at);
            if first.is_some() || Instant::now() >= deadline {
                break first;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        self.task.abort();
        found
    }
}

/// Reads every accepted order back with its buyer's token until it is
/// `confirmed`; false if one is not within the timeout.
pub(crate) async fn confirm_all(
    authorities: &[String],
    jwt: &str,
    accepted: &[(String, u64)],
    concurrency: usize,
    timeout: f64,
) -> bool {
    let queue = Arc::new(Mutex::new(accepted.to_vec()));
    let deadline = Instant::now() + Duration::from_secs_f64(timeout);
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|w| {
            let (queue, jwt, authority) = (queue.clone(), jwt.to_owned(), authorities[w % authorities.len()].clone());
            tokio::spawn(async move {
                let mut conn = Conn::new(authority);
                loop {
                    let Some((order, buyer)) = queue.lock().expect("queue lock").pop() else { return true };
                    let bearer = token(&jwt, &format!("bench-{buyer}"));
                    loop {
                        let answer = send(&mut conn, Method::GET, &format!("/api/orders/{order}"), Some(&bearer), None).await;
                        let confirmed = matches!(&answer, Ok((200, body))
                            if serde_json::from_slice::<Value>(body).is_ok_and(|v| v["status"] == "confirmed"));
                        if confirmed {
                            break;
                        }
                        if Instant::now() >= deadline {
                            return false;
                        }
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            })
        })
        .collect();
    let mut all = true;
    for w in workers {
        all &= w.await.unwrap_or(false);
    }
    all
}

/// A progress line on stderr: a bar on a terminal, a line every 2 s otherwise.
async fn show_progress(total: u64, counters: Arc<Counters>, stop: Arc<AtomicBool>) {
    let tty = std::io::stderr().is_terminal();
    let every = if tty {
        Duration::from_millis(250)
    } else {
        Duration::from_secs(2)
    };
    let started = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(every).await;
        let d = counters.done.load(Ordering::Relaxed);
        let share = d as f64 / total.max(1) as f64;
        let bar: String = (0..30)
            .map(|i| if (i as f64) < share * 30.0 { '#' } else { '.' })
            .collect();
        let rate = d as f64 / started.elapsed().as_secs_f64();
        let line = format!(
            "[{bar}] {:>3.0}% {d}/{total} attempts, {rate:.0}/s, {} accepted",
            share * 100.0,
            counters.accepted.load(Ordering::Relaxed)
        );
        let mut err = std::io::stderr();
        let _ = if tty {
            write!(err, "\r{line}")
        } else {
            writeln!(err, "{line}")
        };
    }
    if tty {
        eprintln!();
    }
}

/// CPU time a local process has used so far (user and system, all its
/// threads), in seconds: fields 14 and 15 of `/proc/<pid>/stat`, in ticks
/// of `USER_HZ`, which Linux fixes at 100.
pub fn process_cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: count from its ')'.
    let mut fields = stat.get(stat.rfind(')')? + 2..)?.split(' ');
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

/// The engine's CPU µs per request since `before`, if it could be read.
fn cpu_per_request(pid: Option<u32>, before: Option<f64>, requests: u64) -> Option<f64> {
    let (before, after) = (before?, process_cpu_seconds(pid?)?);
    (requests > 0).then(|| (after - before) * 1e6 / requests as f64)
}

/// Peak resident memory of a local process (`VmHWM`), in MiB.
pub fn peak_rss_mib(pid: u32) -> Option<f64> {
    proc_memory_mib(pid, "VmHWM:")
}

/// A memory line (`VmRSS:`, `VmHWM:` …) of a local process's
/// `/proc/<pid>/status`, in MiB.
pub fn proc_memory_mib(pid: u32, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_string_field_is_read_from_an_answer() {
        let error = br#"{"error":{"code":"sold_out","message":"the sale is sold out"}}"#;
        assert_eq!(string_field(error, "code"), Some("sold_out"));
        assert_eq!(error_code(error), "sold_out");
        let accepted = br#"{"remaining":3,"order_id":"0192","status":"pending"}"#;
        assert_eq!(string_field(accepted, "order_id"), Some("0192"));
        assert_eq!(string_field(br#"{"xcode":"a","code":"b"}"#, "code"), Some("b"));
        assert_eq!(string_field(br#"{"code":3}"#, "code"), None);
        assert_eq!(string_field(b"not json", "code"), None);
    }

    #[test]
    fn this_process_has_used_some_cpu() {
        let spin = Instant::now();
        while spin.elapsed() < Duration::from_millis(30) {}
        let used = process_cpu_seconds(std::process::id()).expect("/proc/self/stat reads");
        assert!(used >= 0.02, "{used} s");
    }
}
